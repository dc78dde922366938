'use strict'
// High level: Redlock over ioredis / node-redis clients. This file converts
// values and runs the drive loop (send each command, feed each reply and timer
// back, read outcomes from the machine's events); every lock decision is the
// core's.
//
// One native RedlockHost per Redlock holds the machines of all its leases in
// slots: a lease costs no native object, an input is one native call, and one
// timer serves every lease (armed for the earliest deadline the host reported;
// when it fires, `expire` delivers the timeouts that are due).

const native = require('../native.js')
const { redlockScripts, describe, toJson, fromJson } = require('./machine.js')
const { adapt, toReply, errorReply } = require('./clients.js')
const {
  InvalidInputError,
  LockLostError,
  LockNotAcquiredError,
  UsageError,
  InternalError,
  fromNative,
} = require('./errors.js')
const {
  clock,
  random,
  integer,
  boolean,
  optionsObject,
  retryConfig,
  driftPpm,
  seedText,
  camel,
  eventsOf,
  acquireOptions,
  usingLease,
} = require('./host.js')

/** @type {Record<string, {name: string, sha1: string, source: string}>} */
const SCRIPTS = Object.fromEntries(redlockScripts().map((s) => [s.name, s]))

const EXTEND = 1
const RELEASE = 2

const LOCK_OPTION_KEYS = ['ttl', 'driftFactor', 'nodeTimeout', 'retry', 'autoExtend', 'fencing', 'namespace', 'seed']
const REDLOCK_OPTION_KEYS = [...LOCK_OPTION_KEYS, 'onEvent']
const ACQUIRE_OPTION_KEYS = [...LOCK_OPTION_KEYS, 'timeout', 'signal']

/**
 * Lock options (camelCase) as a partial core config (snake_case).
 * @param {Record<string, unknown>} o
 */
function configPart(o) {
  /** @type {Record<string, unknown>} */
  const out = {}
  if (o.ttl !== undefined) out.ttl = integer('ttl', o.ttl)
  if (o.driftFactor !== undefined) out.drift_ppm = driftPpm(o.driftFactor)
  if (o.nodeTimeout !== undefined) out.node_timeout = o.nodeTimeout === null ? null : integer('nodeTimeout', o.nodeTimeout)
  if (o.retry !== undefined) out.retry = retryConfig(o.retry)
  if (o.autoExtend !== undefined) out.auto_extend = boolean('autoExtend', o.autoExtend)
  if (o.fencing !== undefined) out.fencing = boolean('fencing', o.fencing)
  if (o.namespace !== undefined) {
    if (typeof o.namespace !== 'string') throw new InvalidInputError(`namespace must be a string, got ${describe(o.namespace)}`)
    out.namespace = o.namespace
  }
  if (o.seed !== undefined) out.rng_seed = BigInt(seedText(o.seed))
  return out
}

/**
 * @param {unknown} resources
 * @returns {string[]}
 */
function resourceList(resources) {
  if (typeof resources === 'string') return [resources]
  if (!Array.isArray(resources)) {
    throw new InvalidInputError(`resources must be a string or an array of strings, got ${describe(resources)}`)
  }
  for (let i = 0; i < resources.length; i++) {
    if (typeof resources[i] !== 'string') throw new InvalidInputError(`resources[${i}] must be a string, got ${describe(resources[i])}`)
  }
  return [...resources]
}

/**
 * @typedef {{resolve: (v: any) => void, reject: (e: unknown) => void}} Waiter
 */

/** One lease's drive-loop state (its machine lives in the host's `slot`). */
class Driver {
  /**
   * @param {number} slot
   * @param {string[]} resources
   * @param {number} nodes
   */
  constructor(slot, resources, nodes) {
    this.slot = slot
    this.resources = resources
    this.nodes = nodes
    /** The slot's tables (keys / args arrays), in the order the host sent them. @type {string[][]} */
    this.tables = []
    /** Prebuilt EVALSHA arguments by `script:keys:args:kind`. @type {Map<string, unknown[]>} */
    this.argvs = new Map()
    /** Per node: this lease's commands sent and not answered (created on first use). @type {Uint16Array | null} */
    this.outstanding = null
    /** Per node: the SHA1 of the script this lease sent last. @type {string[] | null} */
    this.lastSent = null
    /** Per node: commands waiting for this lease's previous one on that node. @type {({script: {sha1: string}, run: () => void}[] | undefined)[] | null} */
    this.queues = null
    this.inflight = 0
    /** @type {Waiter | null} */
    this.acquireWaiter = null
    /** @type {Waiter[]} */
    this.extendWaiters = []
    /** @type {Waiter | null} */
    this.releaseWaiter = null
    /** @type {AbortController | null} */
    this.controller = null
    /** @type {LockLostError | null} */
    this.lost = null
    /** @type {any} */
    this.lease = null
    /** @type {any} */
    this.stats = null
    /** @type {unknown} */
    this.cancelCause = undefined
    /** The machine reached a terminal event (released, acquire_failed); its slot is freed. */
    this.done = false
    /** The machine's last state once done. */
    this.finalState = ''
    /** @type {any[]} */
    this.reports = []
  }

  busy() {
    return this.acquireWaiter !== null || this.extendWaiters.length > 0 || this.releaseWaiter !== null
  }
}

/** The native host, the clients, the shared timer, and the drive loop of every lease. */
class Engine {
  /**
   * @param {InstanceType<typeof native.RedlockHost>} host
   * @param {import('./clients.js').Adapter[]} adapters
   * @param {(type: string, event: any, fields: Record<string, unknown>) => void} notify
   */
  constructor(host, adapters, notify) {
    this.host = host
    this.adapters = adapters
    this.notify = notify
    /** Drivers by slot. @type {(Driver | undefined)[]} */
    this.drivers = []
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null
    this.timerAt = Infinity
    /** Operations callers await (the timer holds the process open while > 0). */
    this.waiting = 0
    this.onTimer = () => {
      this.timer = null
      this.timerAt = Infinity
      /** @type {number | string} */
      let result
      try {
        result = this.host.expire(clock())
      } catch (e) {
        // A timeout is always acceptable input: this is a bug.
        const error = new InternalError(`timeout refused: ${/** @type {Error} */ (e).message}`, { cause: e })
        for (const d of this.drivers) if (d !== undefined) this.failAll(d, error)
        return
      }
      if (typeof result === 'number') {
        if (result >= 0) this.arm(result)
        return
      }
      const batches = fromJson(result)
      for (let i = 1; i < batches.length; i++) {
        const batch = batches[i]
        const d = this.drivers[batch[0]]
        if (d !== undefined) this.batch(d, batch, 1)
      }
      if (batches[0] >= 0) this.arm(batches[0])
    }
  }

  /** @param {number} at */
  arm(at) {
    if (at >= this.timerAt) return
    if (this.timer !== null) clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(at - performance.now())))
    if (this.waiting === 0) this.timer.unref()
  }

  /** @param {number} delta */
  wait(delta) {
    const before = this.waiting
    this.waiting += delta
    if (this.timer !== null) {
      if (before === 0 && this.waiting > 0) this.timer.ref()
      else if (before > 0 && this.waiting === 0) this.timer.unref()
    }
  }

  /**
   * Handles what a host call returned for `d`: its next deadline alone (a
   * number) when there was no output, else the batch as JSON text.
   * @param {Driver} d
   * @param {number | string} result
   */
  result(d, result) {
    if (typeof result === 'number') {
      if (result >= 0) this.arm(result)
      else if (this.stalled(d)) this.failAll(d, new InternalError(`machine stalled in state ${this.host.state(d.slot)}`))
      return
    }
    this.batch(d, fromJson(result), 0)
  }

  /** @param {Driver} d */
  stalled(d) {
    return !d.done && d.busy() && d.inflight === 0
  }

  /**
   * `[deadline, new_tables, item...]` from index `at` of `b`.
   * @param {Driver} d
   * @param {any[]} b
   * @param {number} at
   */
  batch(d, b, at) {
    const deadline = b[at]
    const tables = b[at + 1]
    for (let i = 0; i < tables.length; i++) d.tables.push(tables[i])
    for (let i = at + 2; i < b.length; i++) {
      const item = b[i]
      if (Array.isArray(item)) this.send(d, item[0], item[1], item[2], item[3], item[4])
      else if (item.event !== undefined) this.onEvent(d, item.event)
      else this.failAll(d, new InternalError(`cannot perform output ${JSON.stringify(item)}`))
    }
    if (deadline >= 0) this.arm(deadline)
    else if (this.stalled(d)) this.failAll(d, new InternalError('machine stalled'))
    if (d.reports.length > 0) {
      const reports = d.reports
      d.reports = []
      const fields = { resources: d.lease?.resources ?? d.resources }
      for (const event of reports) this.notify(event.type, event, fields)
    }
    if (d.done && this.drivers[d.slot] === d) {
      this.drivers[d.slot] = undefined
      this.host.free(d.slot)
    }
  }

  /**
   * Runs `script` on `node` (per node in emission order) and feeds the reply back.
   * @param {Driver} d
   * @param {number} req
   * @param {number} node
   * @param {string} name
   * @param {number} k
   * @param {number} a
   */
  send(d, req, node, name, k, a) {
    const adapter = this.adapters[node]
    const script = SCRIPTS[name]
    const keys = d.tables[k]
    const args = d.tables[a]
    if (adapter === undefined || script === undefined || keys === undefined || args === undefined) {
      this.failAll(d, new InternalError(`cannot run script ${name} on node ${node}`))
      return
    }
    const cacheKey = `${name}:${k}:${a}:${adapter.kind}`
    let argv = d.argvs.get(cacheKey)
    if (argv === undefined) {
      argv = adapter.argv(script, keys, args)
      d.argvs.set(cacheKey, argv)
    }
    const command = /** @type {unknown[]} */ (argv)
    d.outstanding ??= new Uint16Array(d.nodes)
    d.inflight++
    const run = () =>
      adapter.run(
        script,
        command,
        (value) => this.reply(d, req, node, value, false),
        (error) => this.reply(d, req, node, error, true)
      )
    const queue = d.queues?.[node]
    if (queue !== undefined && queue.length > 0) queue.push({ script, run })
    else if (this.mayRun(d, node, adapter)) this.run(d, node, script, run)
    else ((d.queues ??= new Array(d.nodes))[node] ??= []).push({ script, run })
  }

  /**
   * Whether `d`'s next command may go to `node` now: nothing of this lease is
   * in flight there, or the client keeps its order (one connection) and the
   * command in flight cannot bounce (its script is known to be on the server:
   * a NOSCRIPT reply would send its EVAL after the next command).
   * @param {Driver} d
   * @param {number} node
   * @param {import('./clients.js').Adapter} adapter
   */
  mayRun(d, node, adapter) {
    const outstanding = /** @type {Uint16Array} */ (d.outstanding)
    return outstanding[node] === 0 || (adapter.ordered && adapter.loaded.has(/** @type {string[]} */ (d.lastSent)[node] ?? ''))
  }

  /**
   * @param {Driver} d
   * @param {number} node
   * @param {{sha1: string}} script
   * @param {() => void} run
   */
  run(d, node, script, run) {
    /** @type {Uint16Array} */ (d.outstanding)[node]++
    ;(d.lastSent ??= new Array(d.nodes))[node] = script.sha1
    run()
  }

  /**
   * A node's reply (or what its client threw) to request `req` of `d`.
   * @param {Driver} d
   * @param {number} req
   * @param {number} node
   * @param {unknown} value
   * @param {boolean} failed
   */
  reply(d, req, node, value, failed) {
    d.inflight--
    /** @type {Uint16Array} */ (d.outstanding)[node]--
    // This node's next commands of this lease (if some wait) go out now: one
    // node sees one lease's commands in emission order.
    const queue = d.queues?.[node]
    if (queue !== undefined) {
      const adapter = /** @type {import('./clients.js').Adapter} */ (this.adapters[node])
      while (queue.length > 0 && this.mayRun(d, node, adapter)) {
        const next = /** @type {{script: {sha1: string}, run: () => void}} */ (queue.shift())
        this.run(d, node, next.script, next.run)
      }
    }
    // Once the machine is done (released, or the acquisition failed) it ignores
    // late replies; they are dropped here (its slot may hold another lease now).
    if (d.done) return
    /** @type {number | string} */
    let result
    try {
      if (!failed && typeof value === 'number' && Number.isSafeInteger(value)) {
        result = this.host.replyInt(d.slot, req, node, value, clock())
      } else {
        const reply = failed ? errorReply(value) : toReply(value)
        result = this.host.inputJson(d.slot, toJson({ type: 'reply', now: clock(), req, node, result: reply }, 'reply'))
      }
    } catch (e) {
      const error = fromNative(e, 'usage')
      this.failAll(d, error instanceof InternalError ? error : new InternalError(`host bug: ${error.message}`, { cause: error }))
      return
    }
    this.result(d, result)
  }

  /**
   * @param {Driver} d
   * @param {any} event
   */
  onEvent(d, event) {
    switch (event.type) {
      case 'acquired': {
        d.lease = event.lease
        d.stats = event.stats
        const waiter = d.acquireWaiter
        d.acquireWaiter = null
        waiter?.resolve(undefined)
        break
      }
      case 'acquire_failed': {
        d.done = true
        d.finalState = 'failed'
        const waiter = d.acquireWaiter
        d.acquireWaiter = null
        const options = d.cancelCause === undefined ? undefined : { cause: d.cancelCause }
        waiter?.reject(new LockNotAcquiredError(d.resources, event.reason, camel(event.stats), options))
        break
      }
      case 'extended':
        if (d.lease !== null) d.lease = { ...d.lease, valid_until: event.valid_until }
        this.settleExtends(d, (w) => w.resolve(true))
        break
      case 'extend_failed':
        this.settleExtends(d, (w) => w.resolve(false))
        break
      case 'lost': {
        const error = new LockLostError(d.lease?.resources ?? d.resources, event.reason, event.held_for)
        d.lost = error
        this.settleExtends(d, (w) => w.reject(error))
        d.controller?.abort(error)
        break
      }
      case 'released': {
        d.done = true
        d.finalState = 'released'
        const waiter = d.releaseWaiter
        d.releaseWaiter = null
        if (d.extendWaiters.length > 0) {
          const error = new UsageError('INVALID_STATE', 'the lease was released while an extension was in flight')
          this.settleExtends(d, (w) => w.reject(error))
        }
        waiter?.resolve(event.outcome)
        break
      }
      default:
        break
    }
    d.reports.push(event)
  }

  /**
   * @param {Driver} d
   * @param {(w: Waiter) => void} how
   */
  settleExtends(d, how) {
    const waiters = d.extendWaiters
    d.extendWaiters = []
    for (const w of waiters) how(w)
  }

  /**
   * @param {Driver} d
   * @param {Error} error
   */
  failAll(d, error) {
    const waiters = [d.acquireWaiter, ...d.extendWaiters, d.releaseWaiter]
    d.acquireWaiter = null
    d.extendWaiters = []
    d.releaseWaiter = null
    for (const w of waiters) w?.reject(error)
  }

  /**
   * Applies `extend` or `release` to `d`'s machine; throws its typed error
   * (the machine is then unchanged).
   * @param {Driver} d
   * @param {number} kind
   */
  request(d, kind) {
    /** @type {number | string} */
    let result
    try {
      result = this.host.request(d.slot, kind, clock())
    } catch (e) {
      throw fromNative(e, 'usage')
    }
    this.result(d, result)
  }

  /**
   * A waiter that keeps the shared timer referenced while it is pending.
   * @param {(v: any) => void} resolve
   * @param {(e: unknown) => void} reject
   * @returns {Waiter}
   */
  waiter(resolve, reject) {
    this.wait(1)
    let settled = false
    const done = () => {
      if (!settled) {
        settled = true
        this.wait(-1)
      }
    }
    return {
      resolve: (v) => {
        done()
        resolve(v)
      },
      reject: (e) => {
        done()
        reject(e)
      },
    }
  }
}

// ----- leases --------------------------------------------------------------------

/**
 * A held Redlock lease. `signal` aborts (with a LockLostError) when the lease is
 * lost; `await using` releases it at the end of the scope.
 */
class Lease {
  /** @type {Driver} */
  #driver
  /** @type {Engine} */
  #engine
  /** @type {Promise<string> | null} */
  #releasing = null

  /**
   * @param {Driver} driver
   * @param {Engine} engine
   */
  constructor(driver, engine) {
    this.#driver = driver
    this.#engine = engine
  }

  /** Locked resources, sorted. @returns {string[]} */
  get resources() {
    return [...this.#driver.lease.resources]
  }

  /** The lock value written on every master (a random UUID). @returns {string} */
  get value() {
    return this.#driver.lease.value
  }

  /** Fencing token for the protected resource (`null` with `fencing: false`). @returns {number | bigint | null} */
  get fencingToken() {
    return this.#driver.lease.fencing_token
  }

  /** When the lease was acquired, on the `performance.now()` ms clock. @returns {number} */
  get acquiredAt() {
    return Number(this.#driver.lease.acquired_at)
  }

  /** End of validity on the `performance.now()` ms clock (moves on with extensions). @returns {number} */
  get validUntil() {
    return Number(this.#driver.lease.valid_until)
  }

  /** Latency, attempts and contended attempts of the acquisition. */
  get stats() {
    const s = /** @type {{latency: number, attempts: number, contended: number}} */ (this.#driver.stats)
    return { latency: s.latency, attempts: s.attempts, contended: s.contended }
  }

  /** Aborted, with a LockLostError as its reason, when the lease is lost. @returns {AbortSignal} */
  get signal() {
    const driver = this.#driver
    if (driver.controller === null) {
      driver.controller = new AbortController()
      if (driver.lost !== null) driver.controller.abort(driver.lost)
    }
    return driver.controller.signal
  }

  /** The machine's state: `held`, `extending`, `lost`, `releasing`, `released`. @returns {string} */
  get state() {
    const d = this.#driver
    return d.done ? d.finalState : this.#engine.host.state(d.slot)
  }

  /** Why the lease was lost (`expired`, `extension_failed`, `rejected`), or `null`. @returns {string | null} */
  get lostReason() {
    return this.#driver.lost?.reason ?? null
  }

  /** Milliseconds of validity left now (0 once expired, lost or released). @returns {number} */
  remaining() {
    const d = this.#driver
    // A done lease's slot is freed (it may hold another lease now).
    return d.done ? 0 : this.#engine.host.remaining(d.slot, clock())
  }

  /**
   * Extends the lease now on every master. Resolves `true` when a quorum
   * confirmed (`validUntil` moved on), `false` when the extension failed but the
   * lease is still valid until the unchanged `validUntil`. Rejects with a
   * LockLostError if the lease is (or becomes) lost, a UsageError once released.
   * @returns {Promise<boolean>}
   */
  extend() {
    const d = this.#driver
    const engine = this.#engine
    return new Promise((resolve, reject) => {
      if (d.done) {
        reject(new UsageError('INVALID_STATE', `extend is not allowed once the lease is ${d.finalState}`))
        return
      }
      const waiter = engine.waiter(resolve, reject)
      d.extendWaiters.push(waiter)
      try {
        engine.request(d, EXTEND)
      } catch (e) {
        d.extendWaiters = d.extendWaiters.filter((w) => w !== waiter)
        if (e instanceof UsageError && e.code === 'LEASE_LOST' && d.lost !== null) waiter.reject(d.lost)
        else waiter.reject(e)
      }
    })
  }

  /**
   * Releases the lease on every master. Resolves with the outcome:
   * `released`, `already_expired`, `held_by_other` or `quorum_unreachable`
   * (releasing an expired or lost lease is not an error). Rejects with a
   * UsageError (`INVALID_STATE`) if the lease was already released.
   * @returns {Promise<string>}
   */
  release() {
    const d = this.#driver
    const engine = this.#engine
    const promise = new Promise((resolve, reject) => {
      if (d.done) {
        reject(new UsageError('INVALID_STATE', `release is not allowed once the lease is ${d.finalState}`))
        return
      }
      if (d.releaseWaiter !== null) {
        // The machine refuses a second release with its typed error.
        try {
          engine.request(d, RELEASE)
          reject(new InternalError('a second release was accepted'))
        } catch (e) {
          reject(e)
        }
        return
      }
      const waiter = engine.waiter(resolve, reject)
      d.releaseWaiter = waiter
      try {
        engine.request(d, RELEASE)
      } catch (e) {
        d.releaseWaiter = null
        waiter.reject(e)
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

  /** Releases the lease unless it was already released (for `await using`). */
  async [Symbol.asyncDispose]() {
    if (this.#releasing !== null) {
      await this.#releasing
      return
    }
    if (this.#driver.done) return
    await this.release()
  }
}

// ----- Redlock -------------------------------------------------------------------

/**
 * Redlock over N independent Redis masters (ioredis or node-redis clients, one
 * per master), with fencing tokens.
 */
class Redlock {
  /** @type {Record<string, unknown>} */
  #base
  /** @type {Engine} */
  #engine
  /** A seed given in the options: every lease uses it (else 64 random bits each). */
  #keepSeed = false

  /**
   * @param {Iterable<unknown>} clients one client per master
   * @param {Record<string, unknown>} [options]
   */
  constructor(clients, options = {}) {
    if (clients === null || typeof clients !== 'object' || typeof (/** @type {any} */ (clients)[Symbol.iterator]) !== 'function') {
      throw new InvalidInputError(`clients must be an array of Redis clients (one per master), got ${describe(clients)}`)
    }
    const list = [.../** @type {Iterable<unknown>} */ (clients)]
    const adapters = list.map((c, i) => adapt(c, `clients[${i}]`))
    const o = optionsObject('options', options, REDLOCK_OPTION_KEYS)
    this.#base = { nodes: list.length, ttl: 10_000, ...configPart(o) }
    this.#keepSeed = o.seed !== undefined
    const { events, notify } = eventsOf(o.onEvent)
    /** Metrics and lifecycle events of every lease (see the README for names and payloads). */
    this.events = events
    /** @type {InstanceType<typeof native.RedlockHost>} */
    let host
    try {
      host = new native.RedlockHost(toJson(this.#base, 'options'))
    } catch (e) {
      throw fromNative(e, 'config')
    }
    this.#engine = new Engine(host, adapters, notify)
  }

  /** Number of masters. */
  get nodes() {
    return this.#engine.adapters.length
  }

  /**
   * Acquires `resources` (one name, or several locked together). Resolves with
   * the lease; rejects with LockNotAcquiredError when every attempt failed, the
   * `timeout` passed, or `signal` aborted; ConfigError / InvalidInputError for
   * bad arguments.
   * @param {string | string[]} resources
   * @param {Record<string, unknown>} [options]
   * @returns {Promise<Lease>}
   */
  acquire(resources, options) {
    try {
      return this.#acquire(resources, options)
    } catch (e) {
      return Promise.reject(e)
    }
  }

  /**
   * @param {unknown} resources
   * @param {unknown} options
   * @returns {Promise<Lease>}
   */
  #acquire(resources, options) {
    const list = resourceList(resources)
    const { o, signal, timeout } = acquireOptions(options, ACQUIRE_OPTION_KEYS)
    /** This lease's auto-extend, overriding the instance's when given. @type {boolean | undefined} */
    const autoExtend = o.autoExtend === undefined ? undefined : boolean('autoExtend', o.autoExtend)
    /** @type {string | null} */
    let configJson = null
    let keepSeed = this.#keepSeed
    if (o.ttl !== undefined || o.driftFactor !== undefined || o.nodeTimeout !== undefined || o.retry !== undefined ||
        o.fencing !== undefined || o.namespace !== undefined || o.seed !== undefined) {
      const part = configPart(o)
      configJson = toJson({ ...this.#base, ...part }, 'options')
      keepSeed = keepSeed || o.seed !== undefined
    }
    const engine = this.#engine
    const { buffer, offset } = random(24)
    /** @type {string} */
    let started
    try {
      started = engine.host.start(clock(), JSON.stringify(list), buffer, offset, keepSeed, autoExtend, timeout ?? -1, configJson)
    } catch (e) {
      throw fromNative(e, 'config')
    }
    const batch = fromJson(started)
    const d = new Driver(batch[0], list, engine.adapters.length)
    engine.drivers[d.slot] = d
    return new Promise((resolve, reject) => {
      /** @type {(() => void) | null} */
      let onAbort = null
      d.acquireWaiter = engine.waiter(
        () => {
          if (onAbort !== null) signal?.removeEventListener('abort', onAbort)
          resolve(new Lease(d, engine))
        },
        (e) => {
          if (onAbort !== null) signal?.removeEventListener('abort', onAbort)
          reject(e)
        }
      )
      if (signal !== undefined) {
        onAbort = () => {
          if (d.acquireWaiter === null || d.done) return
          d.cancelCause = signal.reason
          // Release while acquiring cancels: the machine answers acquire_failed(cancelled).
          try {
            engine.request(d, RELEASE)
          } catch (e) {
            engine.failAll(d, /** @type {Error} */ (e))
          }
        }
        signal.addEventListener('abort', onAbort, { once: true })
      }
      engine.batch(d, batch, 1)
    })
  }

  /**
   * Runs `routine` while holding `resources`, extending the lease automatically
   * (unless `autoExtend: false`), then releases it. The routine gets the lease's
   * AbortSignal (aborted with a LockLostError if the lease is lost) and the
   * lease. The routine's own error is rethrown as is, never masked by the release.
   * @template T
   * @param {string | string[]} resources
   * @param {Record<string, unknown> | ((signal: AbortSignal, lease: Lease) => Promise<T>)} optionsOrRoutine
   * @param {(signal: AbortSignal, lease: Lease) => Promise<T>} [maybeRoutine]
   * @returns {Promise<T>}
   */
  async using(resources, optionsOrRoutine, maybeRoutine) {
    return usingLease(optionsOrRoutine, maybeRoutine, 'using(resources, [options], async (signal, lease) => ...)', (options) =>
      this.acquire(resources, { autoExtend: true, ...options })
    )
  }
}

module.exports = { Redlock, Lease, clock }
