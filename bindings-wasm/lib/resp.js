// A ready Redlock transport for runtimes that offer a TCP socket but no Redis
// client: RESP2 through the core's codec (encoder and incremental reader), one
// pipelined connection per master, EVALSHA with an EVAL fallback on NOSCRIPT.
// Sockets come from the runtime: workerd's `connect()` (cloudflare:sockets) or
// Node's `net` (see `cloudflareSockets` / `nodeSockets`).
import { FencelockError, InvalidInputError } from './errors.js'
import { describe, fromJson } from './json.js'

/**
 * @typedef {{data: (bytes: Uint8Array) => void, end: (error: unknown) => void}} SocketHandlers
 * @typedef {{write: (bytes: Uint8Array) => unknown, close: () => void}} OpenSocket
 * @typedef {(handlers: SocketHandlers) => Promise<OpenSocket>} Opener
 */

/** A failed command, with the kind the core's reply vocabulary uses. */
class TransportError extends Error {
  /**
   * @param {'timeout' | 'connection' | 'protocol'} kind
   * @param {string} message
   */
  constructor(kind, message) {
    super(message)
    this.kind = kind
  }
}

/**
 * Openers for workerd (and Cloudflare Workers): `connect` from
 * `cloudflare:sockets`, one address per master.
 * @param {(address: {hostname: string, port: number}) => any} connect
 * @param {{hostname: string, port: number}[]} addresses
 * @returns {Opener[]}
 */
export function cloudflareSockets(connect, addresses) {
  if (typeof connect !== 'function') throw new InvalidInputError('cloudflareSockets needs connect from cloudflare:sockets')
  return checkAddresses(addresses).map((address) => async (handlers) => {
    const socket = connect({ hostname: address.hostname, port: address.port })
    if (socket.opened !== undefined) await socket.opened
    const writer = socket.writable.getWriter()
    const reader = socket.readable.getReader()
    ;(async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          handlers.data(value)
        }
        handlers.end(null)
      } catch (e) {
        handlers.end(e)
      }
    })()
    return {
      write: (bytes) => writer.write(bytes),
      close: () => {
        socket.close().catch(() => {})
      },
    }
  })
}

/**
 * Openers for Node: `net` from `node:net`, one address per master.
 * @param {any} net
 * @param {{hostname: string, port: number}[]} addresses
 * @returns {Opener[]}
 */
export function nodeSockets(net, addresses) {
  if (net === null || typeof net?.createConnection !== 'function') throw new InvalidInputError('nodeSockets needs node:net')
  return checkAddresses(addresses).map(
    (address) => (handlers) =>
      new Promise((resolve, reject) => {
        const socket = net.createConnection({ host: address.hostname, port: address.port })
        socket.setNoDelay(true)
        let open = false
        socket.once('connect', () => {
          open = true
          resolve({ write: (/** @type {Uint8Array} */ bytes) => socket.write(bytes), close: () => socket.destroy() })
        })
        socket.on('data', (/** @type {Uint8Array} */ bytes) => handlers.data(bytes))
        socket.once('error', (/** @type {Error} */ e) => {
          if (!open) reject(e)
          else handlers.end(e)
        })
        socket.once('close', () => handlers.end(null))
      })
  )
}

/** @param {unknown} addresses */
function checkAddresses(addresses) {
  if (!Array.isArray(addresses) || addresses.length === 0) throw new InvalidInputError('addresses must be a non-empty array of {hostname, port}')
  return addresses.map((a, i) => {
    if (a === null || typeof a !== 'object' || typeof a.hostname !== 'string' || !Number.isInteger(a.port)) {
      throw new InvalidInputError(`addresses[${i}] must be {hostname: string, port: number}, got ${describe(a)}`)
    }
    return /** @type {{hostname: string, port: number}} */ (a)
  })
}

/**
 * @param {import('./core.js').Core} core
 */
export function createResp(core) {
  const { call, glue } = core

  /** One pipelined connection: replies come back in the order commands went out. */
  class Connection {
    /** @param {Opener} open @param {number} connectTimeout */
    constructor(open, connectTimeout) {
      this.open = open
      this.connectTimeout = connectTimeout
      /** @type {Promise<OpenSocket> | null} */
      this.socket = null
      /** @type {{resolve: (reply: any) => void, reject: (e: unknown) => void}[]} */
      this.waiting = []
      /** @type {InstanceType<typeof glue.RespReader> | null} */
      this.reader = null
      this.generation = 0
    }

    /** @returns {Promise<OpenSocket>} */
    connect() {
      if (this.socket !== null) return this.socket
      const generation = ++this.generation
      const reader = call('wire', () => new glue.RespReader())
      this.reader = reader
      const handlers = {
        data: (/** @type {Uint8Array} */ bytes) => {
          if (generation === this.generation) this.onData(bytes)
        },
        end: (/** @type {unknown} */ error) => {
          if (generation === this.generation) this.fail(new TransportError('connection', `connection closed${error ? `: ${/** @type {Error} */ (error).message ?? error}` : ''}`))
        },
      }
      this.socket = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new TransportError('timeout', `connect timed out after ${this.connectTimeout} ms`)), this.connectTimeout)
        this.open(handlers).then(
          (socket) => {
            clearTimeout(timer)
            resolve(socket)
          },
          (e) => {
            clearTimeout(timer)
            reject(new TransportError('connection', `connect failed: ${e?.message ?? e}`))
          }
        )
      })
      this.socket.then(
        (socket) => {
          // Scripts first, so EVALSHA finds them; their replies are consumed in order.
          for (let i = 0; ; i++) {
            const load = call('wire', () => glue.respEncodeScriptLoad(i))
            if (load === undefined) break
            this.waiting.push({ resolve: () => {}, reject: () => {} })
            socket.write(load)
          }
        },
        (e) => this.fail(e)
      )
      return this.socket
    }

    /** @param {Uint8Array} bytes */
    onData(bytes) {
      /** @type {string | undefined} */
      let text
      try {
        const reader = /** @type {InstanceType<typeof glue.RespReader>} */ (this.reader)
        text = call('wire', () => reader.push(bytes))
      } catch (e) {
        const code = e instanceof FencelockError ? e.code : 'RESP_PROTOCOL'
        this.fail(new TransportError('protocol', `${code}: ${/** @type {Error} */ (e).message}`))
        return
      }
      if (text === undefined) return
      for (const reply of fromJson(text)) {
        const waiter = this.waiting.shift()
        if (waiter === undefined) {
          this.fail(new TransportError('protocol', 'a reply nobody asked for'))
          return
        }
        waiter.resolve(reply)
      }
    }

    /** Drops the connection: every outstanding command fails; the next one reconnects. @param {unknown} error */
    fail(error) {
      const socket = this.socket
      this.socket = null
      this.generation++
      this.reader?.free()
      this.reader = null
      const waiting = this.waiting
      this.waiting = []
      for (const w of waiting) w.reject(error)
      socket?.then((s) => s.close(), () => {})
    }

    /**
     * Writes one encoded command and waits for its reply.
     * @param {Uint8Array} bytes
     * @returns {Promise<any>}
     */
    async request(bytes) {
      const socket = await this.connect()
      return new Promise((resolve, reject) => {
        this.waiting.push({ resolve, reject })
        try {
          const written = socket.write(bytes)
          if (written instanceof Promise) written.catch((e) => this.fail(new TransportError('connection', `write failed: ${e?.message ?? e}`)))
        } catch (e) {
          this.fail(new TransportError('connection', `write failed: ${/** @type {Error} */ (e)?.message ?? e}`))
        }
      })
    }

    close() {
      this.fail(new TransportError('connection', 'transport closed'))
    }
  }

  /**
   * A Redlock transport over RESP sockets: `{nodes, send(node, command)}`.
   * Replies come back in the core's reply vocabulary; a connection that
   * breaks fails its outstanding commands (`connection` errors for the
   * machine) and is reopened by the next command.
   */
  class RespTransport {
    /** @type {Connection[]} */
    #connections

    /**
     * @param {Opener[]} openers one per master (`cloudflareSockets(...)`, `nodeSockets(...)`)
     * @param {{connectTimeout?: number}} [options]
     */
    constructor(openers, options = {}) {
      if (!Array.isArray(openers) || openers.length === 0 || !openers.every((o) => typeof o === 'function')) {
        throw new InvalidInputError('RespTransport needs one opener function per master')
      }
      const connectTimeout = options.connectTimeout ?? 1000
      if (!Number.isSafeInteger(connectTimeout) || connectTimeout <= 0) throw new InvalidInputError('connectTimeout must be a positive integer (ms)')
      this.#connections = openers.map((open) => new Connection(open, connectTimeout))
    }

    /** Number of masters. */
    get nodes() {
      return this.#connections.length
    }

    /**
     * Runs a Redlock `eval` command on `node`: EVALSHA, then EVAL if the server
     * answers NOSCRIPT. Commands are written in the order they are sent.
     * @param {number} node
     * @param {{script: string, keys: string[], args: string[]}} command
     */
    async send(node, command) {
      const connection = this.#connections[node]
      if (connection === undefined) throw new TransportError('connection', `no master ${node}`)
      const bySha = call('wire', () => glue.respEncodeEval(command.script, command.keys, command.args, true))
      const reply = await connection.request(bySha)
      if (reply.type === 'error' && glue.isNoscript(reply.message)) {
        const full = call('wire', () => glue.respEncodeEval(command.script, command.keys, command.args, false))
        return connection.request(full)
      }
      return reply
    }

    /**
     * Runs any command (strings) on `node` and resolves with its reply in the
     * core's vocabulary (for fenced writes and checks beside the lock).
     * @param {number} node
     * @param {string[]} args
     */
    command(node, args) {
      const connection = this.#connections[node]
      if (connection === undefined) return Promise.reject(new TransportError('connection', `no master ${node}`))
      if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
        return Promise.reject(new InvalidInputError('command args must be strings'))
      }
      return connection.request(call('wire', () => glue.respEncodeCommand(args)))
    }

    /** Closes every connection (outstanding commands fail with `connection`). */
    close() {
      for (const c of this.#connections) c.close()
    }
  }

  return { RespTransport }
}
