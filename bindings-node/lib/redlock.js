'use strict'
// High level: Redlock over ioredis / node-redis clients. This file converts
// values and runs the drive loop (send each command, feed each reply and timer
// back, read outcomes from the machine's events); every lock decision is the
// core's.

const { EventEmitter } = require('node:events')
const { randomBytes } = require('node:crypto')
const native = require('../native.js')
const { lockValueFromRandom, redlockScripts, describe, toJson, fromJson } = require('./machine.js')
const { adapt } = require('./clients.js')
const {
  InvalidInputError,
  LockLostError,
  LockNotAcquiredError,
  UsageError,
  InternalError,
  fromNative,
} = require('./errors.js')

/** The host's clock: `performance.now()` floored to ms (monotonic; never `Date.now()`). */
const clock = () => Math.floor(performance.now())

/** Most idle native machines a Redlock keeps for reuse. */
const POOL_LIMIT = 256

/** @type {Record<string, {name: string, sha1: string, source: string}>} */
const SCRIPTS = Object.fromEntries(redlockScripts().map((s) => [s.name, s]))

// Lock values: 16 fresh CSPRNG bytes per lease, drawn from a pooled buffer.
let pool = Buffer.alloc(0)
let poolAt = 0
function newLockValue() {
  if (poolAt + 16 > pool.length) {
    pool = randomBytes(4096)
    poolAt = 0
  }
  const bytes = pool.subarray(poolAt, poolAt + 16)
  poolAt += 16
  return lockValueFromRandom(bytes)
}

/** A random 64-bit jitter seed, as decimal digits (it exceeds 2^53). */
function randomSeed() {
  if (poolAt + 8 > pool.length) {
    pool = randomBytes(4096)
    poolAt = 0
  }
  const seed = pool.readBigUInt64LE(poolAt)
  poolAt += 8
  return seed
}

// ----- option checks ---------------------------------------------------------

/**
 * @param {string} name
 * @param {unknown} value
 * @returns {number}
 */
function integer(name, value) {
  if (typeof value !== 'number') {
    throw new InvalidInputError(`${name} must be an integer number of milliseconds, got ${describe(value)}`)
  }
  if (Number.isNaN(value)) throw new InvalidInputError(`${name} is NaN`)
  if (!Number.isFinite(value)) throw new InvalidInputError(`${name} is ${value}; a finite integer is needed`)
  if (!Number.isInteger(value)) throw new InvalidInputError(`${name} is ${value}; an integer is needed`)
  if (value < 0) throw new InvalidInputError(`${name} is ${value}; it must not be negative`)
  if (!Number.isSafeInteger(value)) throw new InvalidInputError(`${name} is ${value}; above 2^53`)
  return value
}

/**
 * @param {string} name
 * @param {unknown} value
 */
function boolean(name, value) {
  if (typeof value !== 'boolean') throw new InvalidInputError(`${name} must be a boolean, got ${describe(value)}`)
  return value
}

/**
 * @param {string} what
 * @param {unknown} value
 * @param {readonly string[]} known
 * @returns {Record<string, unknown>}
 */
function optionsObject(what, value, known) {
  if (value === undefined || value === null) return {}
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidInputError(`${what} must be an object, got ${describe(value)}`)
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new InvalidInputError(`${what}: unknown option ${JSON.stringify(key)} (known: ${known.join(', ')})`)
    }
  }
  return /** @type {Record<string, unknown>} */ (value)
}

const RETRY_KEYS = ['maxAttempts', 'baseDelay', 'maxDelay', 'backoff', 'jitter']

/**
 * Retry options (camelCase) as the core's `retry` object (snake_case).
 * @param {unknown} value
 */
function retryConfig(value) {
  const o = optionsObject('retry', value, RETRY_KEYS)
  /** @type {Record<string, unknown>} */
  const out = {}
  if (o.maxAttempts !== undefined) {
    out.max_attempts =
      o.maxAttempts === null || o.maxAttempts === Infinity ? null : integer('retry.maxAttempts', o.maxAttempts)
  }
  if (o.baseDelay !== undefined) out.base_delay = integer('retry.baseDelay', o.baseDelay)
  if (o.maxDelay !== undefined) out.max_delay = integer('retry.maxDelay', o.maxDelay)
  if (o.jitter !== undefined) out.jitter = integer('retry.jitter', o.jitter)
  if (o.backoff !== undefined) {
    if (o.backoff !== 'exponential' && o.backoff !== 'fixed') {
      throw new InvalidInputError(`retry.backoff must be "exponential" or "fixed", got ${JSON.stringify(o.backoff)}`)
    }
    out.backoff = o.backoff
  }
  return out
}

/**
 * @param {unknown} value
 * @returns {number | bigint}
 */
function seedValue(value) {
  if (typeof value === 'bigint') return value
  if (typeof value === 'string') {
    if (!/^[0-9]{1,20}$/.test(value)) throw new InvalidInputError(`seed ${JSON.stringify(value)} is not a decimal integer`)
    return BigInt(value)
  }
  return integer('seed', value)
}

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
  if (o.driftFactor !== undefined) {
    const f = o.driftFactor
    if (typeof f !== 'number' || !Number.isFinite(f) || f < 0) {
      throw new InvalidInputError(`driftFactor must be a finite, non-negative number, got ${describe(f)}`)
    }
    out.drift_ppm = Math.round(f * 1_000_000)
  }
  if (o.nodeTimeout !== undefined) out.node_timeout = o.nodeTimeout === null ? null : integer('nodeTimeout', o.nodeTimeout)
  if (o.retry !== undefined) out.retry = retryConfig(o.retry)
  if (o.autoExtend !== undefined) out.auto_extend = boolean('autoExtend', o.autoExtend)
  if (o.fencing !== undefined) out.fencing = boolean('fencing', o.fencing)
  if (o.namespace !== undefined) {
    if (typeof o.namespace !== 'string') throw new InvalidInputError(`namespace must be a string, got ${describe(o.namespace)}`)
    out.namespace = o.namespace
  }
  if (o.seed !== undefined) out.rng_seed = seedValue(o.seed)
  return out
}

/**
 * @param {unknown} resources
 * @returns {string[]}
 */
function resourceList(resources) {
  const list = typeof resources === 'string' ? [resources] : resources
  if (!Array.isArray(list)) {
    throw new InvalidInputError(`resources must be a string or an array of strings, got ${describe(resources)}`)
  }
  list.forEach((r, i) => {
    if (typeof r !== 'string') throw new InvalidInputError(`resources[${i}] must be a string, got ${describe(r)}`)
  })
  return [...list]
}

/** @param {string} s */
const camelKey = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase())

/**
 * The core's snake_case event as a camelCase object (string values unchanged).
 * @param {unknown} value
 * @returns {any}
 */
function camel(value) {
  if (Array.isArray(value)) return value.map(camel)
  if (value === null || typeof value !== 'object') return value
  /** @type {Record<string, unknown>} */
  const out = {}
  for (const [k, v] of Object.entries(value)) out[camelKey(k)] = camel(v)
  return out
}

// ----- the drive loop ----------------------------------------------------------

/**
 * @typedef {{resolve: (v: any) => void, reject: (e: unknown) => void}} Waiter
 */

/**
 * Drives one machine with the clients: sends every command (per node in
 * emission order; different nodes concurrently), feeds replies and timer
 * expiries back, and settles the operation a caller waits for when the
 * machine's events say so. Replies reach only the machine that sent the
 * command (each driver owns its machine for life).
 */
class Driver {
  /**
   * @param {InstanceType<typeof native.NativeMachine>} machine
   * @param {import('./clients.js').Adapter[]} adapters
   * @param {string[]} resources
   * @param {(type: string, event: any, resources: string[]) => void} notify
   */
  constructor(machine, adapters, resources, notify) {
    this.machine = machine
    this.adapters = adapters
    this.resources = resources
    this.notify = notify
    /** Per node: this lease's commands in flight (at most one) or waiting. @type {number[]} */
    this.outstanding = new Array(adapters.length).fill(0)
    /** Per node: commands waiting for the previous one's reply. @type {((() => void)[] | undefined)[]} */
    this.queues = new Array(adapters.length)
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null
    /** @type {number | null} */
    this.timerAt = null
    /** @type {Waiter | null} */
    this.acquireWaiter = null
    /** @type {Waiter[]} */
    this.extendWaiters = []
    /** @type {Waiter | null} */
    this.releaseWaiter = null
    /** Created when the lease's signal is first asked for. @type {AbortController | null} */
    this.controller = null
    /** @type {LockLostError | null} */
    this.lost = null
    /** @type {any} */
    this.lease = null
    /** @type {{latency: number, attempts: number, contended: number} | null} */
    this.stats = null
    /** @type {unknown} */
    this.cancelCause = undefined
    /** The machine reached a terminal event (released, acquire_failed). */
    this.done = false
    /** @type {any[]} events to report once the outputs are dispatched */
    this.reports = []
    this.onTimer = () => {
      this.timer = null
      this.timerAt = null
      const machine = this.machine
      this.feed(() => machine.driveJson(`{"type":"timeout","now":${clock()}}`))
    }
  }

  /** Whether a caller awaits an operation of this machine. */
  busy() {
    return this.acquireWaiter !== null || this.extendWaiters.length > 0 || this.releaseWaiter !== null
  }

  /**
   * Applies an input (JSON text); throws the machine's typed error (the
   * machine is then unchanged).
   * @param {string} json
   */
  input(json) {
    /** @type {number | string} */
    let result
    try {
      result = this.machine.driveJson(json)
    } catch (e) {
      throw fromNative(e, 'usage')
    }
    this.drive(result)
  }

  /**
   * Applies an input that the host itself produced (a reply or a timer). The
   * machine refusing it is a bug: every waiter gets an InternalError.
   * @param {() => number | string} call
   */
  feed(call) {
    /** @type {number | string} */
    let result
    try {
      result = call()
    } catch (e) {
      const error = fromNative(e, 'usage')
      this.failAll(error instanceof InternalError ? error : new InternalError(`host bug: ${error.message}`, { cause: error }))
      return
    }
    this.drive(result)
  }

  /**
   * Feeds a node's reply to the machine (integer replies by the fast path).
   * @param {number} req
   * @param {number} node
   * @param {import('./clients.js').NodeReply} result
   */
  reply(req, node, result) {
    // Once the machine is done (released, or the acquisition failed) it ignores
    // late replies; drop them here, as the reference host does.
    if (this.done) return
    const machine = this.machine
    if (result.type === 'int' && typeof result.value === 'number') {
      const value = result.value
      this.feed(() => machine.driveReplyInt(clock(), req, node, value))
    } else {
      this.feed(() => machine.driveJson(toJson({ type: 'reply', now: clock(), req, node, result }, 'reply')))
    }
  }

  /**
   * Handles what a drive call returned: the next timeout alone (a number, -1
   * for none) when there was no output, else `[timeout, output...]` as JSON.
   * @param {number | string} result
   */
  drive(result) {
    if (typeof result === 'number') {
      this.arm(result < 0 ? null : result)
      return
    }
    // [timeout, tables, item...]: an eval command is [req, node, script, keys, args]
    // (indexes into tables); any other output is its vocabulary object.
    const outputs = fromJson(result)
    const tables = outputs[1]
    for (let i = 2; i < outputs.length; i++) {
      const output = outputs[i]
      if (Array.isArray(output)) this.send(output[0], output[1], output[2], tables[output[3]], tables[output[4]])
      else if (output.event !== undefined) this.onEvent(output.event)
      else this.failAll(new InternalError(`cannot perform output ${JSON.stringify(output)}`))
    }
    this.arm(outputs[0] === null ? null : Number(outputs[0]))
    if (this.busy() && this.timerAt === null) {
      this.failAll(new InternalError(`machine stalled in state ${this.machine.state}`))
    }
    if (this.reports.length > 0) {
      const reports = this.reports
      this.reports = []
      for (const event of reports) this.notify(event.type, event, this.resources)
    }
  }

  /**
   * Runs `script` on `node` (per node in emission order) and feeds the reply back.
   * @param {number} req
   * @param {number} node
   * @param {string} scriptName
   * @param {string[]} keys
   * @param {string[]} args
   */
  send(req, node, scriptName, keys, args) {
    const adapter = this.adapters[node]
    const script = SCRIPTS[scriptName]
    if (adapter === undefined || script === undefined) {
      this.failAll(new InternalError(`cannot run script ${scriptName} on node ${node}`))
      return
    }
    const run = () =>
      adapter.evalScript(script, keys, args, (result) => {
        // This node's next command of this lease (if one waits) goes out now,
        // after the reply: one node sees one lease's commands in emission order.
        this.outstanding[node]--
        this.queues[node]?.shift()?.()
        this.reply(req, node, result)
      })
    if (this.outstanding[node]++ === 0) run()
    else (this.queues[node] ??= []).push(run)
  }

  /**
   * Arms the one timer for the machine's next deadline; it holds the process
   * open only while a caller waits.
   * @param {number | null} at
   */
  arm(at) {
    if (at === null) {
      if (this.timer !== null) clearTimeout(this.timer)
      this.timer = null
      this.timerAt = null
      return
    }
    if (this.timer === null || this.timerAt !== at) {
      if (this.timer !== null) clearTimeout(this.timer)
      this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(at - performance.now())))
      this.timerAt = at
      if (!this.busy()) this.timer.unref()
    } else if (this.busy()) {
      this.timer.ref()
    } else {
      this.timer.unref()
    }
  }

  /** @param {any} event */
  onEvent(event) {
    switch (event.type) {
      case 'acquired': {
        this.lease = event.lease
        this.stats = event.stats
        const waiter = this.acquireWaiter
        this.acquireWaiter = null
        waiter?.resolve(undefined)
        break
      }
      case 'acquire_failed': {
        this.done = true
        const waiter = this.acquireWaiter
        this.acquireWaiter = null
        const options = this.cancelCause === undefined ? undefined : { cause: this.cancelCause }
        waiter?.reject(new LockNotAcquiredError(this.resources, event.reason, camel(event.stats), options))
        break
      }
      case 'extended':
        if (this.lease !== null) this.lease = { ...this.lease, valid_until: event.valid_until }
        this.settleExtends((w) => w.resolve(true))
        break
      case 'extend_failed':
        this.settleExtends((w) => w.resolve(false))
        break
      case 'lost': {
        const error = new LockLostError(this.lease?.resources ?? this.resources, event.reason, event.held_for)
        this.lost = error
        this.settleExtends((w) => w.reject(error))
        this.controller?.abort(error)
        break
      }
      case 'released': {
        this.done = true
        const waiter = this.releaseWaiter
        this.releaseWaiter = null
        if (this.extendWaiters.length > 0) {
          const error = new UsageError('INVALID_STATE', 'the lease was released while an extension was in flight')
          this.settleExtends((w) => w.reject(error))
        }
        waiter?.resolve(event.outcome)
        break
      }
      default:
        break
    }
    this.reports.push(event)
  }

  /** @param {(w: Waiter) => void} how */
  settleExtends(how) {
    const waiters = this.extendWaiters
    this.extendWaiters = []
    for (const w of waiters) how(w)
  }

  /** @param {Error} error */
  failAll(error) {
    const waiters = [this.acquireWaiter, ...this.extendWaiters, this.releaseWaiter]
    this.acquireWaiter = null
    this.extendWaiters = []
    this.releaseWaiter = null
    for (const w of waiters) w?.reject(error)
  }

  /**
   * Runs the acquisition the machine started when it was built.
   * @param {AbortSignal | undefined} signal
   * @returns {Promise<void>}
   */
  acquire(signal) {
    return new Promise((resolve, reject) => {
      /** @type {(() => void) | null} */
      let onAbort = null
      const finish = () => {
        if (onAbort !== null) signal?.removeEventListener('abort', onAbort)
      }
      this.acquireWaiter = {
        resolve: (v) => {
          finish()
          resolve(v)
        },
        reject: (e) => {
          finish()
          reject(e)
        },
      }
      if (signal !== undefined) {
        onAbort = () => {
          if (this.acquireWaiter === null) return
          this.cancelCause = signal.reason
          // Release while acquiring cancels: the machine answers acquire_failed(cancelled).
          const machine = this.machine
          this.feed(() => machine.driveJson(`{"type":"release","now":${clock()}}`))
        }
        signal.addEventListener('abort', onAbort, { once: true })
      }
      const machine = this.machine
      this.feed(() => machine.driveDrain())
    })
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
  /** @type {Promise<string> | null} */
  #releasing = null

  /** @param {Driver} driver */
  constructor(driver) {
    this.#driver = driver
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
    return this.#driver.machine.state
  }

  /** Why the lease was lost (`expired`, `extension_failed`, `rejected`), or `null`. @returns {string | null} */
  get lostReason() {
    return this.#driver.lost?.reason ?? null
  }

  /** Milliseconds of validity left now (0 once expired, lost or released). @returns {number} */
  remaining() {
    const state = this.#driver.machine.state
    if (state !== 'held' && state !== 'extending') return 0
    return Math.max(0, this.validUntil - clock())
  }

  /**
   * Extends the lease now on every master. Resolves `true` when a quorum
   * confirmed (`validUntil` moved on), `false` when the extension failed but the
   * lease is still valid until the unchanged `validUntil`. Rejects with a
   * LockLostError if the lease is (or becomes) lost, a UsageError once released.
   * @returns {Promise<boolean>}
   */
  extend() {
    const driver = this.#driver
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject }
      driver.extendWaiters.push(waiter)
      try {
        driver.input(`{"type":"extend","now":${clock()}}`)
      } catch (e) {
        driver.extendWaiters = driver.extendWaiters.filter((w) => w !== waiter)
        if (e instanceof UsageError && e.code === 'LEASE_LOST' && driver.lost !== null) reject(driver.lost)
        else reject(e)
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
    const driver = this.#driver
    const promise = new Promise((resolve, reject) => {
      if (driver.releaseWaiter !== null) {
        // The machine refuses a second release with its typed error.
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

  /** Releases the lease unless it was already released (for `await using`). */
  async [Symbol.asyncDispose]() {
    if (this.#releasing !== null) {
      await this.#releasing
      return
    }
    const state = this.#driver.machine.state
    if (state === 'released' || state === 'failed') return
    await this.release()
  }
}

// ----- Redlock -------------------------------------------------------------------

/**
 * Redlock over N independent Redis masters (ioredis or node-redis clients, one
 * per master), with fencing tokens.
 */
class Redlock {
  /** @type {import('./clients.js').Adapter[]} */
  #adapters
  /** @type {Record<string, unknown>} */
  #base
  /** `#base` as JSON text (the config of every lease but its seed). */
  #baseJson = ''
  /** `#base`, validated by the core once. @type {InstanceType<typeof native.MachineTemplate>} */
  #template
  /** Native machines no lease references any more, ready to be rebuilt. @type {InstanceType<typeof native.NativeMachine>[]} */
  #pool = []
  /** Returns a driver's native machine to `#pool` once the driver is collected. */
  #recycler = new FinalizationRegistry((/** @type {InstanceType<typeof native.NativeMachine>} */ machine) => {
    if (this.#pool.length < POOL_LIMIT) this.#pool.push(machine)
  })

  /**
   * @param {Iterable<unknown>} clients one client per master
   * @param {Record<string, unknown>} [options]
   */
  constructor(clients, options = {}) {
    if (clients === null || typeof clients !== 'object' || typeof (/** @type {any} */ (clients)[Symbol.iterator]) !== 'function') {
      throw new InvalidInputError(`clients must be an array of Redis clients (one per master), got ${describe(clients)}`)
    }
    const list = [.../** @type {Iterable<unknown>} */ (clients)]
    this.#adapters = list.map((c, i) => adapt(c, `clients[${i}]`))
    const o = optionsObject('options', options, REDLOCK_OPTION_KEYS)
    this.#base = { nodes: list.length, ttl: 10_000, ...configPart(o) }
    /** Metrics and lifecycle events of every lease (see the README for names and payloads). */
    this.events = new EventEmitter()
    if (o.onEvent !== undefined) {
      if (typeof o.onEvent !== 'function') throw new InvalidInputError('onEvent must be a function')
      this.events.on('event', /** @type {(...args: any[]) => void} */ (o.onEvent))
    }
    this.#baseJson = toJson(this.#base, 'options')
    try {
      this.#template = new native.MachineTemplate('redlock', this.#baseJson)
    } catch (e) {
      throw fromNative(e, 'config')
    }
    /**
     * @param {string} type
     * @param {any} event
     * @param {string[]} resources
     */
    this.notify = (type, event, resources) => {
      const name = camelKey(type)
      const events = this.events
      if (events.listenerCount(name) === 0 && events.listenerCount('event') === 0) return
      const payload = { ...camel(event), type: name, resources }
      try {
        events.emit(name, payload)
        events.emit('event', payload)
      } catch (e) {
        // A listener threw: report it like any uncaught error, outside the drive loop.
        process.nextTick(() => {
          throw e
        })
      }
    }
  }

  /** Number of masters. */
  get nodes() {
    return this.#adapters.length
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
  async acquire(resources, options = {}) {
    const list = resourceList(resources)
    const o = optionsObject('acquire options', options, ACQUIRE_OPTION_KEYS)
    const signal = o.signal
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new InvalidInputError(`signal must be an AbortSignal, got ${describe(signal)}`)
    }
    const timeout = o.timeout === undefined || o.timeout === null ? null : integer('timeout', o.timeout)
    signal?.throwIfAborted()
    const part = configPart(o)
    const initJson = `{"now":${clock()},"resources":${JSON.stringify(list)},"value":"${newLockValue()}","timeout":${timeout}}`
    /** @type {InstanceType<typeof native.NativeMachine>} */
    let machine
    try {
      if (Object.keys(part).length === 0) {
        const recycled = this.#pool.pop()
        if (recycled !== undefined) {
          this.#template.rebuild(recycled, initJson, String(randomSeed()))
          machine = recycled
        } else {
          machine = this.#template.build(initJson, String(randomSeed()))
        }
      } else {
        const config = { ...this.#base, ...part }
        if (config.rng_seed === undefined) config.rng_seed = randomSeed()
        machine = new native.NativeMachine('redlock', toJson(config, 'config'), initJson)
      }
    } catch (e) {
      throw fromNative(e, 'config')
    }
    const driver = new Driver(machine, this.#adapters, list, this.notify)
    // Once nothing references the driver (its lease, pending replies, its
    // timer), its native machine is reused for a later lease.
    this.#recycler.register(driver, machine)
    await driver.acquire(signal)
    return new Lease(driver)
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
    const [options, routine] =
      typeof optionsOrRoutine === 'function' ? [{}, optionsOrRoutine] : [optionsOrRoutine ?? {}, maybeRoutine]
    if (typeof routine !== 'function') throw new InvalidInputError('using() needs a routine: using(resources, [options], async (signal, lease) => ...)')
    const lease = await this.acquire(resources, { autoExtend: true, ...options })
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

module.exports = { Redlock, Lease, clock }
