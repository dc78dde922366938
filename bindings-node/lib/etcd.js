'use strict'
// High level: etcd lease mutex and election (Go `concurrency` compatible) over
// either transport the application passes: an `etcd3` client (gRPC) or the
// etcd v3 JSON gateway with `fetch`. Either way every request is the core's
// JSON-gateway encoding of the machine's command, and every response goes back
// through the core's codec (over gRPC the response message is handed over in
// the gateway's JSON form: bytes as base64); this file runs the drive loop
// (commands concurrently: a keep-alive while a watch waits), timers and maps
// events to promises. Every lock decision is the core's.

const native = require('../native.js')
const { describe, toJson } = require('./machine.js')
const {
  InternalError,
  InvalidInputError,
  LockNotAcquiredError,
  UsageError,
  fromNative,
} = require('./errors.js')
const {
  clock,
  randomSeed,
  integer,
  boolean,
  optionsObject,
  retryConfig,
  driftPpm,
  seedText,
  eventsOf,
  signalAndTimeout,
  acquireOptions,
  withLease,
  usingLease,
} = require('./host.js')
const { SessionDriver, SessionLease } = require('./session.js')

/** How long one request may take before the host gives up on it (the machine's own timeout decides first). */
const REQUEST_LIMIT = 10_000
/** How long a watch may stay open before the host closes it (the machine re-reads long before). */
const WATCH_LIMIT = 120_000

// ----- transports -------------------------------------------------------------------

/**
 * @typedef {object} Transport
 * @property {'grpc' | 'gateway'} kind
 * @property {(path: string, body: string, signal: AbortSignal) => Promise<Uint8Array>} request
 *   One request; resolves with the response body in the gateway's JSON form
 *   (any status), rejects when there is no response.
 * @property {(body: string, onLine: (line: Uint8Array) => boolean, signal: AbortSignal) => Promise<void>} watch
 *   A watch: calls `onLine` with each message (gateway JSON form) until it
 *   returns `true`; rejects when the stream fails or ends first.
 */

/**
 * A failure as the machine's error kind.
 * @param {unknown} e
 * @returns {'timeout' | 'connection' | 'server' | 'lease_not_found'}
 */
function failureKind(e) {
  const error = /** @type {{name?: unknown, constructor?: {name?: unknown}, message?: unknown, code?: unknown}} */ (e ?? {})
  const name = String(error.constructor?.name ?? error.name ?? '')
  const message = String(error.message ?? '')
  if (name === 'EtcdLeaseInvalidError' || /requested lease not found/.test(message)) return 'lease_not_found'
  if (error.name === 'TimeoutError' || name === 'GRPCDeadlineExceededError' || /deadline exceeded|timed? ?out/i.test(message)) return 'timeout'
  if (
    name === 'GRPCUnavailableError' ||
    name === 'GRPCCancelledError' ||
    name === 'TypeError' ||
    name === 'EtcdWatchStreamEnded' ||
    /ECONN|EPIPE|socket|No connection|connect|Unavailable|stream (ended|closed)/i.test(message)
  ) {
    return 'connection'
  }
  return 'server'
}

/**
 * A response message of the etcd3 client (bytes as Buffers) as the JSON
 * gateway would have sent it (bytes as base64; 64-bit numbers are already
 * strings in etcd3's messages).
 * @param {unknown} message
 * @returns {Uint8Array}
 */
function gatewayForm(message) {
  return Buffer.from(
    JSON.stringify(message, function (key, value) {
      const raw = /** @type {any} */ (this)[key]
      if (raw instanceof Uint8Array) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64')
      // etcd3's copy of the protos spells enum values in CamelCase (`Put`); etcd's own are upper case.
      if (key === 'type' && (value === 'Put' || value === 'Delete')) return value.toUpperCase()
      return value
    }),
    'utf8'
  )
}

/** Request fields whose values are enums. */
const ENUM_FIELDS = new Set(['target', 'result', 'sort_order', 'sort_target'])

/**
 * A gateway request body as the etcd3 client's RPC request: the same fields,
 * with enum values spelled as etcd3's copy of the protos spells them
 * (`CREATE` → `Create`, `NOT_EQUAL` → `NotEqual`).
 * @param {string} body
 */
function grpcRequest(body) {
  return JSON.parse(body, (key, value) =>
    ENUM_FIELDS.has(key) && typeof value === 'string'
      ? value
          .toLowerCase()
          .split('_')
          .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
          .join('')
      : value
  )
}

/**
 * Runs `fn` and rejects if `signal` aborts first.
 * @template T
 * @param {AbortSignal} signal
 * @param {(onAbort: (f: () => void) => void) => Promise<T>} fn
 * @returns {Promise<T>}
 */
function abortable(signal, fn) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason)
      return
    }
    /** @type {(() => void) | null} */
    let cleanup = null
    const onAbort = () => {
      cleanup?.()
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    fn((f) => {
      cleanup = f
    }).then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      }
    )
  })
}

/**
 * The etcd3 package's client (gRPC): its raw RPC clients take the gateway's
 * JSON request bodies as they are (proto field names, int64 as strings, bytes
 * as base64).
 * @param {any} client
 * @returns {Transport}
 */
function grpcTransport(client) {
  const kv = client.kv
  const lease = client.leaseClient
  const watch = client.watchClient
  const options = () => ({ deadline: new Date(Date.now() + REQUEST_LIMIT) })
  /**
   * Opens a duplex stream, writes `request`, and hands every message to
   * `onMessage` until it returns `true`.
   * @param {() => Promise<any>} open
   * @param {unknown} request
   * @param {(message: unknown) => boolean} onMessage
   * @param {AbortSignal} signal
   * @returns {Promise<void>}
   */
  const stream = (open, request, onMessage, signal) =>
    abortable(signal, async (onAbort) => {
      const s = await open()
      const close = () => {
        try {
          s.end()
          s.cancel?.()
        } catch {
          // already closed
        }
      }
      onAbort(close)
      if (signal.aborted) {
        close()
        throw signal.reason
      }
      await new Promise((resolve, reject) => {
        s.on('data', (/** @type {unknown} */ message) => {
          let done
          try {
            done = onMessage(message)
          } catch (e) {
            close()
            reject(e)
            return
          }
          if (done) {
            close()
            resolve(undefined)
          }
        })
        s.on('error', (/** @type {unknown} */ e) => {
          close()
          reject(e)
        })
        s.on('end', () => reject(new Error('etcd stream ended')))
        s.write(request)
      })
    })
  return {
    kind: 'grpc',
    async request(path, body, signal) {
      const request = grpcRequest(body)
      switch (path) {
        case '/v3/lease/grant':
          return gatewayForm(await abortable(signal, () => lease.leaseGrant(request, options())))
        case '/v3/lease/revoke':
          return gatewayForm(await abortable(signal, () => lease.leaseRevoke(request, options())))
        case '/v3/kv/txn':
          return gatewayForm(await abortable(signal, () => kv.txn(request, options())))
        case '/v3/kv/range':
          return gatewayForm(await abortable(signal, () => kv.range(request, options())))
        case '/v3/lease/keepalive': {
          /** @type {unknown} */
          let answer = null
          await stream(
            () => lease.leaseKeepAlive(options()),
            request,
            (message) => {
              answer = message
              return true
            },
            signal
          )
          return gatewayForm({ result: answer })
        }
        default:
          throw new InternalError(`no gRPC call for ${path}`)
      }
    },
    watch(body, onLine, signal) {
      return stream(() => watch.watch(), grpcRequest(body), (message) => onLine(gatewayForm({ result: message })), signal)
    },
  }
}

/**
 * The etcd v3 JSON gateway through `fetch`: the endpoint that answered last
 * first; a request that cannot connect moves on to the next.
 * @param {Record<string, unknown>} o `{endpoints, fetch?, headers?}`
 * @returns {Transport}
 */
function gatewayTransport(o) {
  const endpoints = o.endpoints
  if (!Array.isArray(endpoints) || endpoints.length === 0 || !endpoints.every((e) => typeof e === 'string')) {
    throw new InvalidInputError(`gateway endpoints must be a non-empty array of URLs, got ${describe(endpoints)}`)
  }
  const urls = endpoints.map((e) => (/^https?:\/\//.test(e) ? e : `http://${e}`).replace(/\/+$/, ''))
  const f = o.fetch ?? globalThis.fetch
  if (typeof f !== 'function') throw new InvalidInputError('fetch must be a function')
  const fetchFn = /** @type {typeof fetch} */ (f)
  if (o.headers !== undefined && (o.headers === null || typeof o.headers !== 'object')) {
    throw new InvalidInputError('headers must be an object')
  }
  const headers = { 'content-type': 'application/json', ...(/** @type {Record<string, string>} */ (o.headers ?? {})) }
  let preferred = 0
  /**
   * @param {string} path
   * @param {string} body
   * @param {AbortSignal} signal
   */
  const post = async (path, body, signal) => {
    /** @type {unknown} */
    let last = null
    for (let i = 0; i < urls.length; i++) {
      const index = (preferred + i) % urls.length
      try {
        const response = await fetchFn(`${urls[index]}${path}`, { method: 'POST', headers, body, signal })
        preferred = index
        return response
      } catch (e) {
        if (signal.aborted) throw e
        last = e
      }
    }
    throw last
  }
  return {
    kind: 'gateway',
    async request(path, body, signal) {
      const response = await post(path, body, signal)
      return new Uint8Array(await response.arrayBuffer())
    },
    async watch(body, onLine, signal) {
      const response = await post('/v3/watch', body, signal)
      if (response.body === null) throw new Error('the watch response has no body')
      const reader = response.body.getReader()
      /** @type {Uint8Array} */
      let buffered = new Uint8Array(0)
      for (;;) {
        const { value, done } = await reader.read()
        if (done) throw new Error('etcd watch stream ended')
        buffered = buffered.length === 0 ? value : Buffer.concat([buffered, value])
        let newline
        while ((newline = buffered.indexOf(10)) >= 0) {
          const line = buffered.subarray(0, newline)
          buffered = buffered.subarray(newline + 1)
          if (line.every((b) => b === 32 || b === 9 || b === 13)) continue
          if (onLine(line)) {
            await reader.cancel().catch(() => {})
            return
          }
        }
        if (buffered.length > 16 * 1024 * 1024) throw new Error('a watch line longer than 16 MiB')
      }
    },
  }
}

/**
 * The transport for what the application passed: an etcd3 client, or gateway
 * options `{endpoints, fetch?, headers?}`.
 * @param {unknown} client
 * @returns {Transport}
 */
function transportOf(client) {
  const c = /** @type {any} */ (client)
  if (c !== null && typeof c === 'object') {
    if (typeof c.kv?.txn === 'function' && typeof c.leaseClient?.leaseGrant === 'function' && typeof c.watchClient?.watch === 'function') {
      return grpcTransport(c)
    }
    if (Array.isArray(c.endpoints)) {
      return gatewayTransport(optionsObject('gateway', c, ['endpoints', 'fetch', 'headers']))
    }
  }
  throw new InvalidInputError(
    `expected an etcd3 client (new Etcd3(...)) or JSON-gateway options {endpoints: ['http://127.0.0.1:2379'], fetch?}, got ${describe(client)}`
  )
}

// ----- the drive loop ------------------------------------------------------------------

/**
 * @typedef {{resolve: (v: any) => void, reject: (e: unknown) => void}} Waiter
 */

/**
 * Drives one etcd machine through a transport until it is done: the session
 * drive loop, with the etcd outputs (requests, watches, cancels) performed
 * here, and the election's and observer's waiters.
 */
class Driver extends SessionDriver {
  /**
   * @param {InstanceType<typeof native.NativeMachine>} machine
   * @param {Transport} transport
   * @param {string} name
   * @param {(type: string, event: any, fields: Record<string, unknown>) => void} notify
   */
  constructor(machine, transport, name, notify) {
    super(machine, null, name, notify)
    this.transport = transport
    /** Requests (and watches) in flight, by request id. @type {Map<number, AbortController>} */
    this.requests = new Map()
    /** @type {Waiter | null} */
    this.proclaimWaiter = null
    /** Observer: leaders not yet taken, and who waits for the next. @type {any[]} */
    this.leaders = []
    /** @type {Waiter | null} */
    this.leaderWaiter = null
    /** @type {Error | null} */
    this.failure = null
  }

  busy() {
    return super.busy() || this.proclaimWaiter !== null || this.leaderWaiter !== null
  }

  pending() {
    return this.requests.size
  }

  /**
   * `{req, path, watch, body}` (a request or a watch) or `{cancel: req}`.
   * @param {any} output
   */
  perform(output) {
    if (output.cancel !== undefined) this.cancel(output.cancel)
    else if (output.watch === true) this.watch(output.req, output.body)
    else if (typeof output.path === 'string') this.request(output.req, output.path, output.body)
    else this.failAll(new InternalError(`cannot perform output ${JSON.stringify(output)}`))
  }

  /**
   * @param {number} req
   * @param {unknown} e
   */
  failed(req, e) {
    if (this.done) return
    const message = e instanceof Error ? e.message : String(e)
    this.feed(() => this.machine.driveGatewayFailure(clock(), req, failureKind(e), message))
  }

  /**
   * One request; its response body (any status) goes to the machine.
   * @param {number} req
   * @param {string} path
   * @param {string} body
   */
  request(req, path, body) {
    const controller = new AbortController()
    this.requests.set(req, controller)
    const limit = setTimeout(() => controller.abort(new DOMException('etcd request timed out', 'TimeoutError')), REQUEST_LIMIT)
    limit.unref()
    this.transport.request(path, body, controller.signal).then(
      (bytes) => {
        clearTimeout(limit)
        this.requests.delete(req)
        if (!this.done) this.feed(() => this.machine.driveGateway(clock(), req, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), false))
      },
      (e) => {
        clearTimeout(limit)
        this.requests.delete(req)
        this.failed(req, controller.signal.aborted ? controller.signal.reason : e)
      }
    )
  }

  /**
   * A watch: stream messages go to the machine until one answers it.
   * @param {number} req
   * @param {string} body
   */
  watch(req, body) {
    const controller = new AbortController()
    this.requests.set(req, controller)
    const limit = setTimeout(() => controller.abort(new DOMException('etcd watch timed out', 'TimeoutError')), WATCH_LIMIT)
    limit.unref()
    const onLine = (/** @type {Uint8Array} */ line) => {
      if (this.done || !this.requests.has(req)) return true
      const bytes = Buffer.from(line.buffer, line.byteOffset, line.byteLength)
      return this.feed(() => this.machine.driveGateway(clock(), req, bytes, true)) !== null
    }
    this.transport.watch(body, onLine, controller.signal).then(
      () => {
        clearTimeout(limit)
        this.requests.delete(req)
      },
      (e) => {
        clearTimeout(limit)
        // Closed on the machine's request (cancel_watch) or once done: not a failure.
        const cancelled = !this.requests.has(req) || (controller.signal.aborted && controller.signal.reason?.name !== 'TimeoutError')
        this.requests.delete(req)
        if (!cancelled) this.failed(req, controller.signal.aborted ? controller.signal.reason : e)
      }
    )
  }

  /** @param {number} req the watch to close */
  cancel(req) {
    const controller = this.requests.get(req)
    this.requests.delete(req)
    controller?.abort()
  }

  /** @param {any} event */
  handle(event) {
    switch (event.type) {
      case 'acquired':
      case 'acquire_failed':
      case 'released':
        super.handle(event)
        break
      case 'kept_alive':
        if (this.lock !== null && this.lost === null) this.lock = { ...this.lock, valid_until: event.valid_until }
        break
      case 'lost': {
        super.handle(event)
        const proclaim = this.proclaimWaiter
        this.proclaimWaiter = null
        proclaim?.reject(this.lost)
        break
      }
      case 'proclaimed':
      case 'proclaim_failed': {
        const waiter = this.proclaimWaiter
        this.proclaimWaiter = null
        waiter?.resolve(event.type === 'proclaimed')
        break
      }
      case 'leader': {
        const waiter = this.leaderWaiter
        this.leaderWaiter = null
        if (waiter !== null) waiter.resolve(event.leader)
        else this.leaders.push(event.leader)
        if (this.machine.state === 'done') this.done = true
        break
      }
      case 'observe_failed': {
        this.done = true
        this.failure = new LockNotAcquiredError([this.name], event.reason, {})
        const waiter = this.leaderWaiter
        this.leaderWaiter = null
        waiter?.reject(this.failure)
        break
      }
      default:
        break
    }
  }

  /**
   * Lost while queued: the machine removed its key and revoked its lease by
   * itself before giving up; the acquisition rejects with the LockLostError.
   * @param {any} event
   */
  acquireError(event) {
    return event.reason === 'lost' && this.lost !== null ? this.lost : undefined
  }

  /** The machine is done: stops its timer and requests, and ends a wait for the next leader. */
  finish() {
    super.finish()
    for (const controller of this.requests.values()) controller.abort()
    this.requests.clear()
    const waiter = this.leaderWaiter
    this.leaderWaiter = null
    waiter?.resolve(undefined)
  }

  /** @param {Error} error */
  failAll(error) {
    const waiters = [this.proclaimWaiter, this.leaderWaiter]
    this.proclaimWaiter = this.leaderWaiter = null
    super.failAll(error)
    for (const w of waiters) w?.reject(error)
  }

  /**
   * Observer: the next leader reported (`undefined` once it stopped).
   * @returns {Promise<any>}
   */
  nextLeader() {
    if (this.leaders.length > 0) return Promise.resolve(this.leaders.shift())
    if (this.failure !== null) return Promise.reject(this.failure)
    if (this.done) return Promise.resolve(undefined)
    return new Promise((resolve, reject) => {
      this.leaderWaiter = { resolve, reject }
      this.timer.arm(this.timer.at, true)
    })
  }
}

// ----- leases ----------------------------------------------------------------------------

/**
 * A held etcd lock (or won election): the same shape as a Redlock lease.
 * Keep-alives run by themselves while it is held; `signal` aborts (with a
 * LockLostError) when it is lost.
 */
class EtcdLease extends SessionLease {
  /** @protected @returns {Driver} */
  get driver() {
    return /** @type {Driver} */ (super.driver)
  }

  /** Our key: `name/<lowercase hex lease id>` (Go's concurrency layout). @returns {string} */
  get key() {
    return this.driver.lock.key
  }

  /** Our etcd lease id (decimal string: it exceeds 2^53). @returns {string} */
  get leaseId() {
    return this.driver.lock.lease
  }

  /** Fencing token: our key's create revision (strictly increasing between holders; BigInt past 2^53). @returns {number | bigint} */
  get fencingToken() {
    return this.driver.lock.token
  }

  /** End of validity (moves on with every acknowledged keep-alive). @returns {number} */
  get validUntil() {
    return Number(this.driver.lock.valid_until)
  }

  /** Latency, retries and whether we queued. @returns {{latency: number, retries: number, queued: boolean}} */
  get stats() {
    const s = this.driver.stats
    return { latency: s.latency, retries: s.retries, queued: s.queued }
  }

  /** Milliseconds of validity left now (0 once lost or released). @returns {number} */
  remaining() {
    return this.driver.machine.remaining(clock())
  }

  /**
   * etcd leases are kept alive by the machine itself: resolves `true` while
   * the lock is held; rejects with the LockLostError once lost, a UsageError
   * (`INVALID_STATE`) once released.
   * @returns {Promise<boolean>}
   */
  async extend() {
    const driver = this.driver
    if (driver.lost !== null) throw driver.lost
    const state = this.state
    if (state === 'held' || state === 'proclaiming') return true
    throw new UsageError('INVALID_STATE', `extend is not allowed while the lock is ${state}`)
  }

  /**
   * Election only: sets the leader's value (guarded by our key's create
   * revision). Resolves `true` when applied, `false` when it got no answer
   * (still leader); rejects with a LockLostError if leadership is gone.
   * @param {string} value
   * @returns {Promise<boolean>}
   */
  proclaim(value) {
    const driver = this.driver
    if (typeof value !== 'string') return Promise.reject(new InvalidInputError(`value must be a string, got ${describe(value)}`))
    return new Promise((resolve, reject) => {
      if (driver.proclaimWaiter !== null) {
        reject(new UsageError('INVALID_STATE', 'a proclaim is already in flight'))
        return
      }
      driver.proclaimWaiter = { resolve, reject }
      try {
        driver.input(toJson({ type: 'proclaim', now: clock(), value }, 'proclaim'))
      } catch (e) {
        driver.proclaimWaiter = null
        if (e instanceof UsageError && e.code === 'LEASE_LOST' && driver.lost !== null) reject(driver.lost)
        else reject(e)
      }
    })
  }

  /** Election: `release()` under its Go name. */
  resign() {
    return this.release()
  }
}

// ----- EtcdLock, EtcdElection ------------------------------------------------------------

const OPTION_KEYS = ['ttlSecs', 'driftFactor', 'requestTimeout', 'wait', 'pollInterval', 'recheck', 'retry', 'seed', 'onEvent']

/**
 * Options (camelCase) as the core's etcd config (snake_case).
 * @param {Record<string, unknown>} o
 */
function etcdConfig(o) {
  /** @type {Record<string, unknown>} */
  const out = { ttl_secs: o.ttlSecs === undefined ? 10 : integer('ttlSecs', o.ttlSecs) }
  if (o.driftFactor !== undefined) out.drift_ppm = driftPpm(o.driftFactor)
  if (o.requestTimeout !== undefined) out.request_timeout = o.requestTimeout === null ? null : integer('requestTimeout', o.requestTimeout)
  const wait = o.wait ?? 'watch'
  if (wait === 'poll') {
    out.wait = { type: 'poll', interval: o.pollInterval === undefined ? 250 : integer('pollInterval', o.pollInterval) }
  } else if (wait === 'watch') {
    out.wait = { type: 'watch', recheck: o.recheck === undefined || o.recheck === null ? null : integer('recheck', o.recheck) }
  } else {
    throw new InvalidInputError(`wait must be "watch" or "poll", got ${describe(wait)}`)
  }
  if (o.retry !== undefined) out.retry = retryConfig(o.retry)
  return out
}

/** What EtcdLock and EtcdElection share. */
class EtcdBase {
  /** @type {Transport} */
  #transport
  /** @type {string | undefined} */
  #seed
  /** @type {Map<string, InstanceType<typeof native.MachineTemplate>>} */
  #templates = new Map()
  /** @type {(type: string, event: any, fields: Record<string, unknown>) => void} */
  #notify

  /**
   * @param {unknown} client an etcd3 client, or `{endpoints, fetch?, headers?}` for the JSON gateway
   * @param {Record<string, unknown>} [options]
   */
  constructor(client, options = {}) {
    this.#transport = transportOf(client)
    const o = optionsObject('options', options, OPTION_KEYS)
    const config = etcdConfig(o)
    this.#seed = o.seed === undefined ? undefined : seedText(o.seed)
    const { events, notify } = eventsOf(o.onEvent)
    /** Lifecycle events of every lock (camelCase types, and `event` for all). */
    this.events = events
    this.#notify = notify
    const json = toJson(config, 'options')
    for (const machine of ['etcd_mutex', 'etcd_election', 'etcd_observer']) {
      try {
        this.#templates.set(machine, new native.MachineTemplate(machine, json))
      } catch (e) {
        throw fromNative(e, 'config')
      }
    }
  }

  /** Which transport runs the requests: `grpc` (an etcd3 client) or `gateway` (fetch). */
  get transport() {
    return this.#transport.kind
  }

  /**
   * @param {string} machine
   * @param {unknown} name
   * @param {object} init
   * @returns {Driver}
   */
  driver(machine, name, init) {
    if (typeof name !== 'string') throw new InvalidInputError(`name must be a string, got ${describe(name)}`)
    const template = /** @type {InstanceType<typeof native.MachineTemplate>} */ (this.#templates.get(machine))
    const initJson = toJson({ now: clock(), name, ...init }, 'init')
    /** @type {InstanceType<typeof native.NativeMachine>} */
    let m
    try {
      m = template.build(initJson, this.#seed ?? randomSeed())
    } catch (e) {
      throw fromNative(e, 'config')
    }
    return new Driver(m, this.#transport, name, this.#notify)
  }
}

/** An etcd lease mutex, wire-compatible with Go's `concurrency.Mutex`. */
class EtcdLock extends EtcdBase {
  /**
   * Locks `name`. Resolves with the lease; rejects with LockNotAcquiredError
   * (`locked` for a try-lock, `deadline`, `cancelled`, `attempts_exhausted`)
   * or LockLostError (our lease ended while queued; the machine cleaned up).
   * @param {string} name
   * @param {{timeout?: number | null, tryLock?: boolean, signal?: AbortSignal}} [options]
   * @returns {Promise<EtcdLease>}
   */
  async acquire(name, options = {}) {
    const { o, signal, timeout } = acquireOptions(options, ['timeout', 'tryLock', 'signal'])
    const tryLock = o.tryLock === undefined ? false : boolean('tryLock', o.tryLock)
    const driver = this.driver('etcd_mutex', name, { timeout, try_lock: tryLock })
    await driver.start(signal)
    return new EtcdLease(driver)
  }

  /**
   * Runs `routine` while holding `name`, then releases it (the routine's own
   * error is rethrown unmasked).
   * @template T
   * @param {string} name
   * @param {{timeout?: number | null, signal?: AbortSignal} | ((signal: AbortSignal, lease: EtcdLease) => Promise<T>)} optionsOrRoutine
   * @param {(signal: AbortSignal, lease: EtcdLease) => Promise<T>} [maybeRoutine]
   * @returns {Promise<T>}
   */
  async using(name, optionsOrRoutine, maybeRoutine) {
    return usingLease(optionsOrRoutine, maybeRoutine, 'using(name, [options], async (signal, lease) => ...)', (options) => this.acquire(name, options))
  }
}

/** An etcd election, wire-compatible with Go's `concurrency.Election`. */
class EtcdElection extends EtcdBase {
  /**
   * Campaigns in `name` with `value`; resolves once elected with the lease
   * (`proclaim`, `resign`).
   * @param {string} name
   * @param {string} value
   * @param {{timeout?: number | null, signal?: AbortSignal}} [options]
   * @returns {Promise<EtcdLease>}
   */
  async campaign(name, value, options = {}) {
    const { signal, timeout } = acquireOptions(options, ['timeout', 'signal'])
    if (typeof value !== 'string') throw new InvalidInputError(`value must be a string, got ${describe(value)}`)
    const driver = this.driver('etcd_election', name, { value, timeout })
    await driver.start(signal)
    return new EtcdLease(driver)
  }

  /**
   * The current leader of `name` (any campaigner's, ours or Go's), or `null`.
   * @param {string} name
   * @returns {Promise<{key: string, revision: number, lease: string | null, value: string} | null>}
   */
  async leader(name) {
    const driver = this.driver('etcd_observer', name, { follow: false })
    return driver.start(undefined, 'leaderWaiter')
  }

  /**
   * The leader of `name` now and whenever it changes (`null`: none), until the
   * loop breaks or `signal` aborts.
   * @param {string} name
   * @param {{signal?: AbortSignal}} [options]
   * @returns {AsyncIterableIterator<{key: string, revision: number, lease: string | null, value: string} | null>}
   */
  observe(name, options = {}) {
    const o = optionsObject('observe options', options, ['signal'])
    const { signal } = signalAndTimeout(o)
    const driver = this.driver('etcd_observer', name, { follow: true })
    const stop = () => {
      if (driver.done) return
      driver.feed(() => driver.machine.driveJson(`{"type":"release","now":${clock()}}`))
      const state = driver.machine.state
      if (state === 'done' || state === 'failed') driver.finish()
    }
    /** @type {Promise<any> | null} */
    let first = driver.start(undefined, 'leaderWaiter')
    signal?.addEventListener('abort', stop, { once: true })
    /** @type {AsyncIterableIterator<any>} */
    const iterator = {
      async next() {
        if (signal?.aborted) stop()
        const leader = first ?? driver.nextLeader()
        first = null
        const value = await leader
        if (value === undefined) {
          signal?.removeEventListener('abort', stop)
          return { done: true, value: undefined }
        }
        return { done: false, value }
      },
      async return() {
        stop()
        signal?.removeEventListener('abort', stop)
        return { done: true, value: undefined }
      },
      [Symbol.asyncIterator]() {
        return iterator
      },
    }
    return iterator
  }

  /**
   * Campaigns, runs `routine` while leader, then resigns (the routine's own
   * error is rethrown unmasked).
   * @template T
   * @param {string} name
   * @param {string} value
   * @param {(signal: AbortSignal, lease: EtcdLease) => Promise<T>} routine
   * @returns {Promise<T>}
   */
  async using(name, value, routine) {
    if (typeof routine !== 'function') throw new InvalidInputError('using() needs a routine: using(name, value, async (signal, lease) => ...)')
    return withLease(this.campaign(name, value), routine)
  }
}

module.exports = { EtcdLock, EtcdElection, EtcdLease, failureKind }
