// What every high-level class shares: the clock, entropy, option checks,
// camelCase events, timers that work in browsers, workers and Node.
import { InvalidInputError } from './errors.js'
import { describe } from './json.js'

/** The host's clock: `performance.now()` floored to ms (monotonic; never `Date.now()`). */
export const clock = () => Math.floor(performance.now())

/** @param {number} n */
export function randomBytes(n) {
  return crypto.getRandomValues(new Uint8Array(n))
}

/** A random 64-bit jitter seed as decimal digits (it exceeds 2^53). */
export function randomSeed() {
  const b = randomBytes(8)
  let seed = 0n
  for (const byte of b) seed = (seed << 8n) | BigInt(byte)
  return seed.toString()
}

/**
 * @param {string} name
 * @param {unknown} value
 * @returns {number}
 */
export function integer(name, value) {
  if (typeof value !== 'number') throw new InvalidInputError(`${name} must be an integer, got ${describe(value)}`)
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
export function boolean(name, value) {
  if (typeof value !== 'boolean') throw new InvalidInputError(`${name} must be a boolean, got ${describe(value)}`)
  return value
}

/**
 * @param {string} what
 * @param {unknown} value
 * @param {readonly string[]} known
 * @returns {Record<string, unknown>}
 */
export function optionsObject(what, value, known) {
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

export const RETRY_KEYS = ['maxAttempts', 'baseDelay', 'maxDelay', 'backoff', 'jitter']

/**
 * Retry options (camelCase) as the core's `retry` object (snake_case).
 * @param {unknown} value
 */
export function retryConfig(value) {
  const o = optionsObject('retry', value, RETRY_KEYS)
  /** @type {Record<string, unknown>} */
  const out = {}
  if (o.maxAttempts !== undefined) {
    out.max_attempts = o.maxAttempts === null || o.maxAttempts === Infinity ? null : integer('retry.maxAttempts', o.maxAttempts)
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
 * A seed option as decimal digits.
 * @param {unknown} value
 * @returns {string}
 */
export function seedText(value) {
  if (typeof value === 'bigint' && value >= 0n && value < 2n ** 64n) return value.toString()
  if (typeof value === 'string' && /^[0-9]{1,20}$/.test(value)) return value
  return String(integer('seed', value))
}

/**
 * @param {unknown} value
 * @returns {number}
 */
export function driftPpm(value) {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidInputError(`driftFactor must be a finite, non-negative number, got ${describe(value)}`)
  }
  return Math.round(value * 1_000_000)
}

/** @param {string} s */
export const camelKey = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase())

/**
 * The core's snake_case event as a camelCase object (string values unchanged).
 * @param {unknown} value
 * @returns {any}
 */
export function camel(value) {
  if (Array.isArray(value)) return value.map(camel)
  if (value === null || typeof value !== 'object') return value
  /** @type {Record<string, unknown>} */
  const out = {}
  for (const [k, v] of Object.entries(value)) out[camelKey(k)] = camel(v)
  return out
}

/**
 * A tiny event emitter that works in every runtime (`on`, `off`, `emit`).
 * A listener that throws is reported asynchronously, never inside a drive loop.
 */
export class Events {
  /** @type {Map<string, Set<(payload: any) => void>>} */
  #listeners = new Map()

  /**
   * @param {string} name an event type in camelCase, or `event` for every event
   * @param {(payload: any) => void} listener
   */
  on(name, listener) {
    if (typeof listener !== 'function') throw new InvalidInputError('listener must be a function')
    let set = this.#listeners.get(name)
    if (set === undefined) this.#listeners.set(name, (set = new Set()))
    set.add(listener)
    return this
  }

  /**
   * @param {string} name
   * @param {(payload: any) => void} listener
   */
  off(name, listener) {
    this.#listeners.get(name)?.delete(listener)
    return this
  }

  /** @param {string} name */
  listenerCount(name) {
    return this.#listeners.get(name)?.size ?? 0
  }

  /**
   * @param {string} name
   * @param {any} payload
   */
  emit(name, payload) {
    for (const listener of this.#listeners.get(name) ?? []) {
      try {
        listener(payload)
      } catch (e) {
        queueMicrotask(() => {
          throw e
        })
      }
    }
  }
}

/**
 * @typedef {{resolve: (v: any) => void, reject: (e: unknown) => void}} Waiter
 */

/**
 * One timer for a machine's next deadline. In Node it holds the process open
 * only while a caller waits (`keep`).
 */
export class Timer {
  /** @type {ReturnType<typeof setTimeout> | null} */
  #handle = null
  /** @type {number | null} */
  at = null

  /** @param {() => void} fire */
  constructor(fire) {
    this.fire = () => {
      this.#handle = null
      this.at = null
      fire()
    }
  }

  /**
   * @param {number | null} at
   * @param {boolean} keep
   */
  arm(at, keep) {
    if (at === null) {
      if (this.#handle !== null) clearTimeout(this.#handle)
      this.#handle = null
      this.at = null
      return
    }
    if (this.#handle === null || this.at !== at) {
      if (this.#handle !== null) clearTimeout(this.#handle)
      this.#handle = setTimeout(this.fire, Math.max(0, Math.ceil(at - performance.now())))
      this.at = at
    }
    const handle = /** @type {any} */ (this.#handle)
    if (typeof handle?.unref === 'function') {
      if (keep) handle.ref()
      else handle.unref()
    }
  }
}

export const asyncDispose = /** @type {typeof Symbol.asyncDispose} */ (Symbol.asyncDispose ?? Symbol.for('Symbol.asyncDispose'))
