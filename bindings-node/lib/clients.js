'use strict'
// Redis client adapters: run a script with EVALSHA (EVAL on NOSCRIPT) on an
// ioredis or node-redis client, and turn what the client returned (or threw)
// into the core's reply vocabulary. No lock logic lives here.

const { InvalidInputError } = require('./errors.js')
const { describe } = require('./machine.js')

/**
 * @typedef {{type: 'int', value: number | bigint} | {type: 'nil'} | {type: 'text', value: string}
 *   | {type: 'array', items: NodeReply[]} | {type: 'error', kind: 'timeout' | 'connection' | 'server' | 'protocol', message: string}} NodeReply
 */

/**
 * @typedef {object} ScriptRef
 * @property {string} sha1
 * @property {string} source
 */

/**
 * @typedef {object} Adapter
 * @property {'ioredis' | 'node-redis'} kind
 * @property {unknown} client
 * @property {(script: ScriptRef, keys: readonly string[], args: readonly string[]) => unknown[]} argv
 *   The drive loop's prebuilt arguments of `EVALSHA` (reused for every node of
 *   the same client kind).
 * @property {(script: ScriptRef, argv: unknown[], ok: (value: unknown) => void, fail: (error: unknown) => void) => void} run
 *   Runs `EVALSHA` with `argv` (`EVAL` after `NOSCRIPT`) and calls `ok` with
 *   the raw reply value or `fail` with what the client threw, exactly once.
 * @property {boolean} ordered
 *   The client sends commands over one connection in call order, so the server
 *   runs them in that order.
 * @property {Set<string>} loaded
 *   SHA1s of the scripts the server is known to have.
 */

const NIL = Object.freeze({ type: 'nil' })

/**
 * Converts a client's reply value into the core's reply vocabulary.
 * @param {unknown} value
 * @returns {NodeReply}
 */
function toReply(value) {
  switch (typeof value) {
    case 'number':
      if (Number.isSafeInteger(value)) return { type: 'int', value }
      if (Number.isInteger(value)) return { type: 'int', value: BigInt(value) }
      return { type: 'text', value: String(value) }
    case 'bigint':
      return { type: 'int', value }
    case 'string':
      return { type: 'text', value }
    case 'undefined':
      return NIL
    case 'boolean':
      // RESP3 booleans, as RESP2 would have carried them (Lua true is 1, false is nil).
      return value ? { type: 'int', value: 1 } : NIL
    default:
      if (value === null) return NIL
      if (Buffer.isBuffer(value)) return { type: 'text', value: value.toString('utf8') }
      if (Array.isArray(value)) return { type: 'array', items: value.map(toReply) }
      return { type: 'error', kind: 'protocol', message: `unexpected reply ${describe(value)}` }
  }
}

/** Class names of error replies in ioredis (redis-errors) and node-redis. */
const SERVER_ERRORS = new Set(['ReplyError', 'ErrorReply', 'SimpleError', 'BlobError', 'MultiErrorReply'])
/** A Redis error reply starts with an upper-case error code: `ERR`, `NOSCRIPT`, `BUSY` ... */
const ERROR_PREFIX = /^[A-Z][A-Z_]+ /

/**
 * Classifies what a client threw.
 * @param {unknown} error
 * @returns {NodeReply}
 */
function errorReply(error) {
  const e = /** @type {{name?: unknown, message?: unknown, constructor?: {name?: unknown}, code?: unknown}} */ (
    error ?? {}
  )
  const message = typeof e.message === 'string' ? e.message : String(error)
  const names = [e.name, e.constructor?.name]
  if (names.some((n) => typeof n === 'string' && SERVER_ERRORS.has(n))) {
    return { type: 'error', kind: 'server', message }
  }
  if (names.some((n) => typeof n === 'string' && /Timeout/.test(n)) || /timed? ?out/i.test(message)) {
    return { type: 'error', kind: 'timeout', message }
  }
  if (ERROR_PREFIX.test(message) && !/^(ECONN|EPIPE|ETIMEDOUT|EHOSTUNREACH)/.test(message)) {
    return { type: 'error', kind: 'server', message }
  }
  return { type: 'error', kind: 'connection', message }
}

/**
 * @param {unknown} e
 */
function noScript(e) {
  const message = /** @type {{message?: unknown}} */ (e ?? {}).message
  return typeof message === 'string' && message.startsWith('NOSCRIPT')
}

/**
 * The drive loop's way to run a script on one client: `send(argv)` runs
 * `EVALSHA`, `sendEval(source, argv)` the `EVAL` fallback. Tracks which
 * scripts the server is known to have (a reply other than NOSCRIPT proves it;
 * a NOSCRIPT forgets them all: the server restarted or flushed its scripts).
 * @param {(argv: unknown[]) => Promise<unknown>} send
 * @param {(source: string, argv: unknown[]) => Promise<unknown>} sendEval
 * @returns {Pick<Adapter, 'run' | 'loaded'>}
 */
function runner(send, sendEval) {
  /** @type {Set<string>} */
  const loaded = new Set()
  return {
    loaded,
    run(script, argv, ok, fail) {
      let promise
      try {
        promise = send(argv)
      } catch (e) {
        queueMicrotask(() => fail(e))
        return
      }
      promise.then(
        (value) => {
          loaded.add(script.sha1)
          ok(value)
        },
        (/** @type {unknown} */ e) => {
          if (!noScript(e)) {
            loaded.add(script.sha1)
            return fail(e)
          }
          loaded.clear()
          try {
            sendEval(script.source, argv).then((value) => {
              loaded.add(script.sha1)
              ok(value)
            }, fail)
          } catch (e2) {
            fail(e2)
          }
        }
      )
    },
  }
}

/**
 * @param {any} client
 * @returns {Adapter}
 */
function ioredisAdapter(client) {
  /** The socket corked until the current microtasks have run (null: none). @type {any} */
  let corked = null
  const uncork = () => {
    const stream = corked
    corked = null
    stream?.uncork()
  }
  const { run, loaded } = runner(
    (argv) => {
      // Commands this drive loop sends to a master that still has commands in
      // flight (other leases' next commands, while a batch of replies is
      // processed) leave in one write: the socket is corked until the pending
      // microtasks have run (ioredis writes each command at once otherwise, a
      // syscall each). A command to an idle master goes out at once: corking
      // it would only delay it.
      if (corked === null && client.status === 'ready' && client.commandQueue?.length > 0) {
        const stream = client.stream
        if (stream !== null && typeof stream === 'object' && typeof stream.cork === 'function' && stream.writable) {
          stream.cork()
          corked = stream
          queueMicrotask(uncork)
        }
      }
      return client.evalsha(...argv)
    },
    (source, argv) => client.eval(source, ...argv.slice(1))
  )
  return {
    kind: 'ioredis',
    client,
    // One connection (a Cluster routes by slot and may redirect: not ordered).
    ordered: client.isCluster !== true,
    loaded,
    run,
    argv(script, keys, args) {
      return [script.sha1, keys.length, ...keys, ...args]
    },
  }
}

/**
 * @param {any} client
 * @returns {Adapter}
 */
function nodeRedisAdapter(client) {
  const { run, loaded } = runner(
    (argv) => Promise.resolve(client.sendCommand(argv)),
    (source, argv) => Promise.resolve(client.sendCommand(['EVAL', source, ...argv.slice(2)]))
  )
  return {
    kind: 'node-redis',
    client,
    // One connection, commands written in call order.
    ordered: true,
    loaded,
    run,
    argv(script, keys, args) {
      return ['EVALSHA', script.sha1, String(keys.length), ...keys, ...args]
    },
  }
}

/**
 * Runs a script once on `adapter` (`EVALSHA`, `EVAL` after `NOSCRIPT`) and
 * resolves with its reply; failures come back as `{type: "error"}` replies,
 * never as rejections.
 * @param {Adapter} adapter
 * @param {ScriptRef} script
 * @param {readonly string[]} keys
 * @param {readonly string[]} args
 * @returns {Promise<NodeReply>}
 */
function evalScript(adapter, script, keys, args) {
  return new Promise((resolve) =>
    adapter.run(
      script,
      adapter.argv(script, keys, args),
      (value) => resolve(toReply(value)),
      (error) => resolve(errorReply(error))
    )
  )
}

/**
 * Recognises an ioredis client (or Cluster) or a node-redis client and wraps it.
 * @param {unknown} client
 * @param {string} [what] how to name it in errors
 * @returns {Adapter}
 */
function adapt(client, what = 'client') {
  const c = /** @type {any} */ (client)
  if (c !== null && typeof c === 'object') {
    // ioredis: lower-case command methods (`evalsha`, `eval`) and `pipeline`.
    if (typeof c.evalsha === 'function' && typeof c.eval === 'function' && typeof c.pipeline === 'function') {
      return ioredisAdapter(c)
    }
    // node-redis (v4 and later): `sendCommand(args[])` and camel-case `evalSha`.
    if (typeof c.sendCommand === 'function' && (typeof c.evalSha === 'function' || typeof c.EVALSHA === 'function')) {
      return nodeRedisAdapter(c)
    }
  }
  throw new InvalidInputError(
    `${what} is not a Redis client: pass an ioredis client (new Redis(...)) or a connected node-redis client (createClient(...)), got ${describe(client)}`
  )
}

module.exports = { adapt, toReply, errorReply, evalScript }
