// High level: etcd lease mutex and election over the etcd v3 JSON gateway with
// nothing but `fetch`. Requests and responses go through the core's gateway
// codec (inside the module: base64, 64-bit strings, omitted zero values); this
// file runs the drive loop (one fetch per command, concurrently; a watch is a
// streaming fetch read line by line and aborted on `cancel_watch`) and maps
// events to promises. Polling is the default wait mode: edge runtimes cannot
// hold a watch stream for long.
import { InternalError, InvalidInputError, LockLostError, LockNotAcquiredError, UsageError } from './errors.js'
import {
  asyncDispose,
  camel,
  camelKey,
  clock,
  driftPpm,
  Events,
  integer,
  optionsObject,
  randomSeed,
  retryConfig,
  seedText,
  Timer,
} from './host.js'
import { describe, fromJson, toJson } from './json.js'

/** How long one gateway request may take before the host aborts it (the machine's own timeout decides first). */
const HTTP_TIMEOUT = 10_000
/** How long a watch stream may stay open before the host aborts it (the machine re-reads long before). */
const WATCH_TIMEOUT = 120_000

/**
 * @typedef {{endpoints: string[], fetch?: typeof fetch, headers?: Record<string, string>}} GatewayOptions
 */

/**
 * The cluster's gateway endpoints (`http://host:port`), the one that answered
 * last first; a request that cannot connect moves on to the next.
 */
class Gateway {
  /** @param {unknown} options */
  constructor(options) {
    const o = optionsObject('gateway', options, ['endpoints', 'fetch', 'headers'])
    const endpoints = o.endpoints
    if (!Array.isArray(endpoints) || endpoints.length === 0 || !endpoints.every((e) => typeof e === 'string')) {
      throw new InvalidInputError(`gateway.endpoints must be a non-empty array of URLs, got ${describe(endpoints)}`)
    }
    this.endpoints = endpoints.map((e) => e.replace(/\/+$/, ''))
    const f = o.fetch ?? globalThis.fetch
    if (typeof f !== 'function') throw new InvalidInputError('gateway.fetch must be a function (no global fetch here)')
    // Called as a plain function: workers refuse a global fetch called with another `this`.
    /** @type {typeof fetch} */
    const call = /** @type {typeof fetch} */ (f)
    this.fetch = (/** @type {any} */ input, /** @type {any} */ init) => call(input, init)
    this.headers = { 'content-type': 'application/json', ...(/** @type {Record<string, string>} */ (o.headers ?? {})) }
    this.preferred = 0
  }

  /**
   * POSTs `body` to `path`; returns the response (any status).
   * @param {string} path
   * @param {string} body
   * @param {AbortSignal} signal
   * @returns {Promise<Response>}
   */
  async post(path, body, signal) {
    let last = /** @type {unknown} */ (null)
    for (let i = 0; i < this.endpoints.length; i++) {
      const index = (this.preferred + i) % this.endpoints.length
      try {
        const response = await this.fetch(`${this.endpoints[index]}${path}`, { method: 'POST', headers: this.headers, body, signal })
        this.preferred = index
        return response
      } catch (e) {
        if (signal.aborted) throw e
        last = e
      }
    }
    throw last
  }
}

/**
 * @param {import('./core.js').Core} core
 */
export function createEtcd(core) {
  const { call, glue } = core

  /**
   * Drives one etcd machine through the gateway until it is done.
   */
  class Driver {
    /**
     * @param {import('./core.js').WasmMachine} machine
     * @param {Gateway} gateway
     * @param {string} name
     * @param {(type: string, event: any, name: string) => void} notify
     */
    constructor(machine, gateway, name, notify) {
      this.machine = machine
      this.gateway = gateway
      this.name = name
      this.notify = notify
      /** Watches (and other requests) in flight, by request id. @type {Map<number, AbortController>} */
      this.inflight = new Map()
      this.timer = new Timer(() => this.feed(() => this.machine.driveTimeout(clock())))
      /** @type {import('./host.js').Waiter | null} */
      this.acquireWaiter = null
      /** @type {import('./host.js').Waiter | null} */
      this.releaseWaiter = null
      /** @type {import('./host.js').Waiter | null} */
      this.proclaimWaiter = null
      /** @type {import('./host.js').Waiter | null} */
      this.leaderWaiter = null
      /** @type {AbortController | null} */
      this.controller = null
      /** @type {LockLostError | null} */
      this.lost = null
      /** @type {any} */
      this.lock = null
      /** @type {any} */
      this.stats = null
      /** @type {unknown} */
      this.cancelCause = undefined
      this.done = false
      /** @type {any[]} */
      this.reports = []
    }

    busy() {
      return this.acquireWaiter !== null || this.releaseWaiter !== null || this.proclaimWaiter !== null || this.leaderWaiter !== null
    }

    /** @param {string} json */
    input(json) {
      this.drive(call('usage', () => this.machine.drive(json)))
    }

    /** @param {() => number | string | null} fn */
    feed(fn) {
      /** @type {number | string | null} */
      let result
      try {
        result = call('usage', fn)
      } catch (e) {
        const error = e instanceof InternalError ? e : new InternalError(`host bug: ${/** @type {Error} */ (e).message}`, { cause: e })
        this.failAll(error)
        return null
      }
      if (result !== null) this.drive(result)
      return result
    }

    /** @param {number | string} result */
    drive(result) {
      if (typeof result === 'number') {
        this.timer.arm(result < 0 ? null : result, this.busy())
        return
      }
      // [timeout, item...]: {req, path, watch, body} | {cancel: req} | {event}
      const outputs = fromJson(result)
      for (let i = 1; i < outputs.length; i++) {
        const output = outputs[i]
        if (output.event !== undefined) this.onEvent(output.event)
        else if (output.cancel !== undefined) this.cancel(output.cancel)
        else if (output.watch === true) this.watch(output.req, output.path, output.body)
        else if (typeof output.path === 'string') this.request(output.req, output.path, output.body)
        else this.failAll(new InternalError(`cannot perform output ${JSON.stringify(output)}`))
      }
      this.timer.arm(outputs[0] === null ? null : Number(outputs[0]), this.busy())
      if (this.busy() && this.timer.at === null && this.inflight.size === 0) {
        this.failAll(new InternalError(`machine stalled in state ${this.machine.state}`))
      }
      if (this.reports.length > 0) {
        const reports = this.reports
        this.reports = []
        for (const event of reports) this.notify(event.type, event, this.name)
      }
    }

    /**
     * @param {number} req
     * @param {unknown} e
     */
    failure(req, e) {
      if (this.done) return
      const name = /** @type {any} */ (e)?.name
      const kind = name === 'TimeoutError' ? 'timeout' : 'connection'
      const message = e instanceof Error ? e.message : String(e)
      this.feed(() => this.machine.driveGatewayFailure(clock(), req, kind, message))
    }

    /**
     * One gateway request; its response body (any status) goes to the machine.
     * @param {number} req
     * @param {string} path
     * @param {string} body
     */
    request(req, path, body) {
      const controller = new AbortController()
      this.inflight.set(req, controller)
      const timer = setTimeout(() => controller.abort(new DOMException('gateway request timed out', 'TimeoutError')), HTTP_TIMEOUT)
      this.gateway
        .post(path, body, controller.signal)
        .then((response) => response.arrayBuffer())
        .then(
          (bytes) => {
            clearTimeout(timer)
            this.inflight.delete(req)
            if (!this.done) this.feed(() => this.machine.driveGateway(clock(), req, new Uint8Array(bytes), false))
          },
          (e) => {
            clearTimeout(timer)
            this.inflight.delete(req)
            this.failure(req, controller.signal.aborted ? controller.signal.reason : e)
          }
        )
    }

    /**
     * A watch: a streaming request read line by line until a line answers it.
     * @param {number} req
     * @param {string} path
     * @param {string} body
     */
    watch(req, path, body) {
      const controller = new AbortController()
      this.inflight.set(req, controller)
      const timer = setTimeout(() => controller.abort(new DOMException('watch stream timed out', 'TimeoutError')), WATCH_TIMEOUT)
      const finish = () => {
        clearTimeout(timer)
        this.inflight.delete(req)
        controller.abort()
      }
      ;(async () => {
        const response = await this.gateway.post(path, body, controller.signal)
        if (response.body === null) throw new Error('the watch response has no body')
        const reader = response.body.getReader()
        /** @type {Uint8Array} */
        let buffered = new Uint8Array(0)
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          buffered = concat(buffered, value)
          let newline
          while ((newline = buffered.indexOf(10)) >= 0) {
            const line = buffered.subarray(0, newline)
            buffered = buffered.subarray(newline + 1)
            if (line.every((b) => b === 32 || b === 9 || b === 13)) continue
            if (this.done || !this.inflight.has(req)) return
            const result = this.feed(() => this.machine.driveGateway(clock(), req, line, true))
            if (result !== null) return
          }
          if (buffered.length > 16 * 1024 * 1024) throw new Error('a watch line longer than 16 MiB')
        }
        throw new Error('watch stream ended')
      })().then(finish, (e) => {
        const cancelled = !this.inflight.has(req) || (controller.signal.aborted && controller.signal.reason?.name !== 'TimeoutError')
        finish()
        if (!cancelled) this.failure(req, e)
      })
    }

    /** @param {number} req the watch to close */
    cancel(req) {
      const controller = this.inflight.get(req)
      this.inflight.delete(req)
      controller?.abort()
    }

    /** @param {any} event */
    onEvent(event) {
      switch (event.type) {
        case 'acquired': {
          this.lock = event.lock
          this.stats = event.stats
          const waiter = this.acquireWaiter
          this.acquireWaiter = null
          waiter?.resolve(undefined)
          break
        }
        case 'kept_alive':
          if (this.lock !== null) this.lock = { ...this.lock, valid_until: event.valid_until }
          break
        case 'acquire_failed': {
          this.done = true
          const waiter = this.acquireWaiter
          this.acquireWaiter = null
          const options = this.cancelCause === undefined ? undefined : { cause: this.cancelCause }
          waiter?.reject(new LockNotAcquiredError([this.name], event.reason, camel(event.stats), options))
          this.releaseWaiter?.resolve('released')
          this.releaseWaiter = null
          break
        }
        case 'lost': {
          const error = new LockLostError([this.name], event.reason, event.held_for)
          this.lost = error
          this.controller?.abort(error)
          const proclaim = this.proclaimWaiter
          this.proclaimWaiter = null
          proclaim?.reject(error)
          const waiter = this.acquireWaiter
          if (waiter !== null) {
            // Lost while queued: the machine removes its queue entry by itself
            // and ends with acquire_failed; the caller learns of the loss now.
            this.acquireWaiter = null
            waiter.reject(error)
          }
          break
        }
        case 'proclaimed':
        case 'proclaim_failed': {
          const waiter = this.proclaimWaiter
          this.proclaimWaiter = null
          waiter?.resolve(event.type === 'proclaimed')
          break
        }
        case 'released': {
          this.done = true
          const waiter = this.releaseWaiter
          this.releaseWaiter = null
          waiter?.resolve(event.outcome)
          break
        }
        case 'leader': {
          const waiter = this.leaderWaiter
          this.leaderWaiter = null
          waiter?.resolve(event.leader)
          break
        }
        case 'observe_failed': {
          this.done = true
          const waiter = this.leaderWaiter
          this.leaderWaiter = null
          waiter?.reject(new LockNotAcquiredError([this.name], event.reason, {}))
          break
        }
        default:
          break
      }
      if (this.done) {
        for (const controller of this.inflight.values()) controller.abort()
        this.inflight.clear()
      }
      this.reports.push(event)
    }

    /** @param {Error} error */
    failAll(error) {
      const waiters = [this.acquireWaiter, this.releaseWaiter, this.proclaimWaiter, this.leaderWaiter]
      this.acquireWaiter = this.releaseWaiter = this.proclaimWaiter = this.leaderWaiter = null
      for (const w of waiters) w?.reject(error)
    }

    /**
     * Starts the machine and waits for its first outcome.
     * @param {'acquireWaiter' | 'leaderWaiter'} slot
     * @param {AbortSignal | undefined} signal
     * @returns {Promise<any>}
     */
    start(slot, signal) {
      return new Promise((resolve, reject) => {
        /** @type {(() => void) | null} */
        let onAbort = null
        const finish = () => {
          if (onAbort !== null) signal?.removeEventListener('abort', onAbort)
        }
        this[slot] = {
          resolve: (/** @type {any} */ v) => {
            finish()
            resolve(v)
          },
          reject: (/** @type {unknown} */ e) => {
            finish()
            reject(e)
          },
        }
        if (signal !== undefined) {
          onAbort = () => {
            if (this[slot] === null) return
            this.cancelCause = signal.reason
            this.feed(() => this.machine.drive(`{"type":"release","now":${clock()}}`))
          }
          signal.addEventListener('abort', onAbort, { once: true })
        }
        this.feed(() => this.machine.driveDrain())
      })
    }
  }

  /**
   * A held etcd lock (or won election): the same shape as a Redlock lease.
   * Keep-alives run by themselves while it is held; `signal` aborts (with a
   * LockLostError) when it is lost.
   */
  class EtcdLease {
    /** @type {Driver} */
    #driver
    /** @type {Promise<string> | null} */
    #releasing = null

    /** @param {Driver} driver */
    constructor(driver) {
      this.#driver = driver
    }

    /** The lock (election) name, as the only resource. @returns {string[]} */
    get resources() {
      return [this.#driver.name]
    }

    /** Our key: `name/<lowercase hex lease id>` (Go's concurrency layout). @returns {string} */
    get key() {
      return this.#driver.lock.key
    }

    /** Our etcd lease id (decimal string: it exceeds 2^53). @returns {string} */
    get leaseId() {
      return this.#driver.lock.lease
    }

    /** Fencing token: our key's create revision (strictly increasing between holders). @returns {number | bigint} */
    get fencingToken() {
      return this.#driver.lock.token
    }

    /** When the lock was acquired, on the `performance.now()` ms clock. @returns {number} */
    get acquiredAt() {
      return Number(this.#driver.lock.acquired_at)
    }

    /** End of validity (moves on with every acknowledged keep-alive). @returns {number} */
    get validUntil() {
      return Number(this.#driver.lock.valid_until)
    }

    /** Latency, retries and whether we queued. */
    get stats() {
      const s = this.#driver.stats
      return { latency: s.latency, retries: s.retries, queued: s.queued }
    }

    /** Aborted, with a LockLostError as its reason, when the lock is lost. @returns {AbortSignal} */
    get signal() {
      const driver = this.#driver
      if (driver.controller === null) {
        driver.controller = new AbortController()
        if (driver.lost !== null) driver.controller.abort(driver.lost)
      }
      return driver.controller.signal
    }

    /** The machine's state: `held`, `proclaiming`, `lost`, `releasing`, `released`. @returns {string} */
    get state() {
      return call('usage', () => this.#driver.machine.state)
    }

    /** Why the lock was lost (`expired`, `revoked`, `key_deleted`), or `null`. @returns {string | null} */
    get lostReason() {
      return this.#driver.lost?.reason ?? null
    }

    /** Milliseconds of validity left now (0 once lost or released). @returns {number} */
    remaining() {
      return call('usage', () => this.#driver.machine.remaining(clock()))
    }

    /**
     * etcd leases are kept alive by the machine itself (no extend input):
     * resolves `true` while the lock is held; rejects with the LockLostError
     * once lost, a UsageError (`INVALID_STATE`) once released.
     * @returns {Promise<boolean>}
     */
    async extend() {
      const driver = this.#driver
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
      const driver = this.#driver
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

    /**
     * Unlocks (resigns): a guarded delete of our key, then the lease revoke.
     * Resolves with the outcome: `released`, `already_expired` or
     * `unreachable`. Rejects with a UsageError (`INVALID_STATE`) if already released.
     * @returns {Promise<string>}
     */
    release() {
      const driver = this.#driver
      const promise = new Promise((resolve, reject) => {
        if (driver.releaseWaiter !== null) {
          try {
            driver.input(`{"type":"release","now":${clock()}}`)
            reject(new InternalError('a second release was accepted'))
          } catch (e) {
            reject(e)
          }
          return
        }
        driver.releaseWaiter = { resolve, reject }
        try {
          driver.input(`{"type":"release","now":${clock()}}`)
        } catch (e) {
          driver.releaseWaiter = null
          reject(e)
        }
      })
      if (this.#releasing === null) {
        this.#releasing = promise
        promise.catch(() => {
          this.#releasing = null
        })
      }
      return /** @type {Promise<string>} */ (promise)
    }

    /** Election: `release()` under its Go name. */
    resign() {
      return this.release()
    }

    /** Releases unless already released (for `await using`). */
    async [asyncDispose]() {
      if (this.#releasing !== null) {
        await this.#releasing
        return
      }
      const state = this.state
      if (state === 'released' || state === 'failed') return
      await this.release()
    }
  }

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
    const wait = o.wait ?? 'poll'
    if (wait === 'poll') {
      out.wait = { type: 'poll', interval: o.pollInterval === undefined ? 250 : integer('pollInterval', o.pollInterval) }
    } else if (wait === 'watch') {
      out.wait = { type: 'watch', recheck: o.recheck === undefined || o.recheck === null ? null : integer('recheck', o.recheck) }
    } else {
      throw new InvalidInputError(`wait must be "poll" or "watch", got ${describe(wait)}`)
    }
    if (o.retry !== undefined) out.retry = retryConfig(o.retry)
    return out
  }

  /** What EtcdLock and EtcdElection share. */
  class EtcdBase {
    /** @type {Gateway} */
    gateway
    /** @type {Record<string, unknown>} */
    #options
    /** @type {string | undefined} */
    #seed

    /**
     * @param {GatewayOptions} gateway
     * @param {Record<string, unknown>} [options]
     */
    constructor(gateway, options = {}) {
      this.gateway = new Gateway(gateway)
      const o = optionsObject('options', options, OPTION_KEYS)
      this.#options = etcdConfig(o)
      this.#seed = o.seed === undefined ? undefined : seedText(o.seed)
      /** Lifecycle events of every lock (camelCase types, and `event` for all). */
      this.events = new Events()
      if (o.onEvent !== undefined) {
        if (typeof o.onEvent !== 'function') throw new InvalidInputError('onEvent must be a function')
        this.events.on('event', /** @type {(payload: any) => void} */ (o.onEvent))
      }
      /** @type {Map<string, InstanceType<typeof glue.MachineTemplate>>} */
      this.templates = new Map()
      const json = toJson(this.#options, 'options')
      for (const machine of ['etcd_mutex', 'etcd_election', 'etcd_observer']) {
        this.templates.set(machine, call('config', () => new glue.MachineTemplate(machine, json)))
      }
      /**
       * @param {string} type
       * @param {any} event
       * @param {string} name
       */
      this.notify = (type, event, name) => {
        const key = camelKey(type)
        if (this.events.listenerCount(key) === 0 && this.events.listenerCount('event') === 0) return
        const payload = { ...camel(event), type: key, name }
        this.events.emit(key, payload)
        this.events.emit('event', payload)
      }
    }

    /**
     * @param {string} machine
     * @param {string} name
     * @param {object} init
     */
    driver(machine, name, init) {
      if (typeof name !== 'string') throw new InvalidInputError(`name must be a string, got ${describe(name)}`)
      const template = /** @type {InstanceType<typeof glue.MachineTemplate>} */ (this.templates.get(machine))
      const initJson = toJson({ now: clock(), name, ...init }, 'init')
      const seed = this.#seed ?? randomSeed()
      const wasm = call('config', () => template.build(initJson, seed))
      return new Driver(wasm, this.gateway, name, this.notify)
    }
  }

  /**
   * @param {unknown} options
   * @param {string[]} keys
   */
  function acquireOptions(options, keys) {
    const o = optionsObject('acquire options', options, keys)
    const signal = /** @type {AbortSignal | undefined} */ (o.signal)
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidInputError(`signal must be an AbortSignal, got ${describe(signal)}`)
    signal?.throwIfAborted()
    const timeout = o.timeout === undefined || o.timeout === null ? null : integer('timeout', o.timeout)
    return { o, signal, timeout }
  }

  /** An etcd lease mutex, wire-compatible with Go's `concurrency.Mutex`. */
  class EtcdLock extends EtcdBase {
    /**
     * Locks `name`. Resolves with the lease; rejects with LockNotAcquiredError
     * (`locked` for a try-lock, `deadline`, `cancelled`, `attempts_exhausted`)
     * or LockLostError (our lease ended while queued).
     * @param {string} name
     * @param {{timeout?: number | null, tryLock?: boolean, signal?: AbortSignal}} [options]
     * @returns {Promise<EtcdLease>}
     */
    async acquire(name, options = {}) {
      const { o, signal, timeout } = acquireOptions(options, ['timeout', 'tryLock', 'signal'])
      const tryLock = o.tryLock === undefined ? false : o.tryLock
      if (typeof tryLock !== 'boolean') throw new InvalidInputError('tryLock must be a boolean')
      const driver = this.driver('etcd_mutex', name, { timeout, try_lock: tryLock })
      await driver.start('acquireWaiter', signal)
      return new EtcdLease(driver)
    }

    /**
     * Runs `routine` while holding `name`, then releases it (the routine's own
     * error is rethrown unmasked).
     * @template T
     * @param {string} name
     * @param {((signal: AbortSignal, lease: EtcdLease) => Promise<T>)} routine
     * @returns {Promise<T>}
     */
    async using(name, routine) {
      if (typeof routine !== 'function') throw new InvalidInputError('using() needs a routine')
      const lease = await this.acquire(name)
      let result
      try {
        result = await routine(lease.signal, lease)
      } catch (error) {
        await lease.release().catch(() => {})
        throw error
      }
      await lease.release()
      return result
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
      await driver.start('acquireWaiter', signal)
      return new EtcdLease(driver)
    }

    /**
     * The current leader of `name` (any campaigner's, ours or Go's), or `null`.
     * @param {string} name
     * @returns {Promise<{key: string, revision: number, lease: string | null, value: string} | null>}
     */
    async leader(name) {
      const driver = this.driver('etcd_observer', name, { follow: false })
      return driver.start('leaderWaiter', undefined)
    }
  }

  return { EtcdLock, EtcdElection, EtcdLease }
}

/**
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 */
function concat(a, b) {
  if (a.length === 0) return b
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}
