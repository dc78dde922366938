'use strict'
// What every drive loop of this package shares: the clock, option checks,
// CSPRNG bytes, camelCase events, a one-shot timer and the lease's settle
// bookkeeping. No lock logic lives here.

const { EventEmitter } = require('node:events')
const { randomBytes } = require('node:crypto')
const { InvalidInputError } = require('./errors.js')
const { describe } = require('./machine.js')

/** The host's clock: `performance.now()` floored to ms (monotonic; never `Date.now()`). */
const clock = () => Math.floor(performance.now())

// CSPRNG bytes for lock values, guids and jitter seeds, drawn from a pooled buffer.
let pool = Buffer.alloc(0)
let poolAt = 0

/**
 * `n` fresh CSPRNG bytes as a window into a pooled buffer (read them before
 * the next call).
 * @param {number} n at most 4096
 * @returns {{buffer: Buffer, offset: number}}
 */
function random(n) {
  if (poolAt + n > pool.length) {
    pool = randomBytes(4096)
    poolAt = 0
  }
  const offset = poolAt
  poolAt += n
  return { buffer: pool, offset }
}

/** A random 64-bit jitter seed, as decimal digits (it exceeds 2^53). */
function randomSeed() {
  const { buffer, offset } = random(8)
  return buffer.readBigUInt64LE(offset).toString()
}

/**
 * @param {string} name
 * @param {unknown} value
 * @returns {number}
 */
function integer(name, value) {
  if (typeof value !== 'number') {
    throw new InvalidInputError(`${name} must be an integer number, got ${describe(value)}`)
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
 * @param {string} name
 * @param {unknown} value
 */
function string(name, value) {
  if (typeof value !== 'string') throw new InvalidInputError(`${name} must be a string, got ${describe(value)}`)
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
 * A drift factor (fraction of the TTL) as parts per million.
 * @param {unknown} f
 */
function driftPpm(f) {
  if (typeof f !== 'number' || !Number.isFinite(f) || f < 0) {
    throw new InvalidInputError(`driftFactor must be a finite, non-negative number, got ${describe(f)}`)
  }
  return Math.round(f * 1_000_000)
}

/**
 * A seed option: decimal digits (string) or a BigInt, as decimal digits.
 * @param {unknown} value
 * @returns {string}
 */
function seedText(value) {
  if (typeof value === 'bigint') {
    if (value < 0n || value >= 2n ** 64n) throw new InvalidInputError('seed must fit in 64 bits')
    return value.toString()
  }
  if (typeof value === 'string') {
    if (!/^[0-9]{1,20}$/.test(value) || BigInt(value) >= 2n ** 64n) {
      throw new InvalidInputError(`seed ${JSON.stringify(value)} is not a 64-bit decimal integer`)
    }
    return value
  }
  return String(integer('seed', value))
}

/** camelCase names already computed (event types and keys are few). @type {Map<string, string>} */
const camelNames = new Map()

/** @param {string} s */
const camelKey = (s) => {
  let name = camelNames.get(s)
  if (name === undefined) {
    name = s.replace(/_([a-z])/g, (_, c) => c.toUpperCase())
    if (camelNames.size < 1024) camelNames.set(s, name)
  }
  return name
}

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

/**
 * An EventEmitter for a lock class's events (`events`), and the function the
 * drive loops report through: camelCase type and keys, plus `fields` (the
 * lock's name or resources). A listener that throws is reported like any
 * uncaught error, outside the drive loop.
 * @param {unknown} onEvent the `onEvent` option
 * @returns {{events: EventEmitter, notify: (type: string, event: any, fields: Record<string, unknown>) => void}}
 */
function eventsOf(onEvent) {
  const events = new EventEmitter()
  if (onEvent !== undefined) {
    if (typeof onEvent !== 'function') throw new InvalidInputError('onEvent must be a function')
    events.on('event', /** @type {(...args: any[]) => void} */ (onEvent))
  }
  /**
   * @param {string} type
   * @param {any} event
   * @param {Record<string, unknown>} fields
   */
  const notify = (type, event, fields) => {
    const name = camelKey(type)
    if (events.listenerCount(name) === 0 && events.listenerCount('event') === 0) return
    const payload = { ...camel(event), type: name, ...fields }
    try {
      events.emit(name, payload)
      events.emit('event', payload)
    } catch (e) {
      process.nextTick(() => {
        throw e
      })
    }
  }
  return { events, notify }
}

/**
 * One timer for one machine's next deadline; it holds the process open only
 * while a caller awaits an operation (`busy`).
 */
class Timer {
  /** @param {() => void} fire */
  constructor(fire) {
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.handle = null
    /** @type {number | null} */
    this.at = null
    this.fire = () => {
      this.handle = null
      this.at = null
      fire()
    }
  }

  /**
   * @param {number | null} at ms on the clock, or `null` for none
   * @param {boolean} busy
   */
  arm(at, busy) {
    if (at === null) {
      this.clear()
      return
    }
    if (this.handle === null || this.at !== at) {
      if (this.handle !== null) clearTimeout(this.handle)
      this.handle = setTimeout(this.fire, Math.max(0, Math.ceil(at - performance.now())))
      this.at = at
    }
    if (busy) this.handle.ref()
    else this.handle.unref()
  }

  clear() {
    if (this.handle !== null) clearTimeout(this.handle)
    this.handle = null
    this.at = null
  }
}

/**
 * Validates an acquire's `signal` and `timeout` options.
 * @param {Record<string, unknown>} o
 */
function signalAndTimeout(o) {
  const signal = /** @type {AbortSignal | undefined} */ (o.signal)
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidInputError(`signal must be an AbortSignal, got ${describe(signal)}`)
  }
  const timeout = o.timeout === undefined || o.timeout === null ? null : integer('timeout', o.timeout)
  return { signal, timeout }
}

/**
 * Validates an acquire's options object (only `keys` allowed) and its `signal`
 * and `timeout`; throws the signal's reason if it is already aborted.
 * @param {unknown} options
 * @param {readonly string[]} keys
 * @param {string} [what] how to name the options in errors
 */
function acquireOptions(options, keys, what = 'acquire options') {
  const o = optionsObject(what, options, keys)
  const { signal, timeout } = signalAndTimeout(o)
  signal?.throwIfAborted()
  return { o, signal, timeout }
}

/**
 * Runs `routine(signal, lease)` between an acquire and a release; the
 * routine's own error is rethrown unmasked.
 * @template T
 * @template {{signal: AbortSignal, release(): Promise<unknown>}} L
 * @param {Promise<L>} acquiring
 * @param {(signal: AbortSignal, lease: L) => Promise<T>} routine
 * @returns {Promise<T>}
 */
async function withLease(acquiring, routine) {
  const lease = await acquiring
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

/**
 * `using(target, [options], routine)`: the options are optional, the routine
 * is not; acquires with `acquire(options)`, then runs the routine as
 * `withLease` does.
 * @param {unknown} optionsOrRoutine
 * @param {unknown} maybeRoutine
 * @param {string} usage how to call `using()`, for the error
 * @param {(options: any) => Promise<{signal: AbortSignal, release(): Promise<unknown>}>} acquire
 * @returns {Promise<any>}
 */
function usingLease(optionsOrRoutine, maybeRoutine, usage, acquire) {
  const [options, routine] = typeof optionsOrRoutine === 'function' ? [{}, optionsOrRoutine] : [optionsOrRoutine ?? {}, maybeRoutine]
  if (typeof routine !== 'function') throw new InvalidInputError(`using() needs a routine: ${usage}`)
  return withLease(acquire(options), /** @type {(signal: AbortSignal, lease: any) => Promise<any>} */ (routine))
}

module.exports = {
  clock,
  random,
  randomSeed,
  integer,
  boolean,
  string,
  optionsObject,
  retryConfig,
  driftPpm,
  seedText,
  camel,
  camelKey,
  eventsOf,
  Timer,
  signalAndTimeout,
  acquireOptions,
  withLease,
  usingLease,
}
