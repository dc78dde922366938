// Values to and from the module's JSON text, exactly: NaN, Infinity, fractions,
// integers beyond 2^53 that are not BigInt, functions, symbols and objects with
// their own JSON form are InvalidInputError; BigInts become exact JSON
// integers; integers beyond 2^53 - 1 coming back become BigInt.
import { InvalidInputError } from './errors.js'

const MAX_EXACT = 2 ** 53
/** Longest JSON text handed to the module (its own limit is the same). */
export const MAX_TEXT = 16 * 1024 * 1024
const BIGINT_IN = `\u0000fencelock-bigint-${Math.random().toString(36).slice(2)}:`
const BIGINT_IN_TEXT = new RegExp(`"${BIGINT_IN.replace('\u0000', '\\\\u0000')}(-?[0-9]+)"`, 'g')
const BIGINT_OUT = '\u0000bigint:'

/** @param {unknown} value */
export function describe(value) {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'number') return String(value)
  return `a ${typeof value}`
}

/**
 * @param {unknown} value
 * @param {string} what
 * @returns {string}
 */
export function toJson(value, what) {
  let big = false
  /** @type {string | undefined} */
  let text
  try {
    text = JSON.stringify(value, function (key, v) {
      const where = key === '' ? what : `${what}: ${key}`
      switch (typeof v) {
        case 'number':
          if (Number.isInteger(v)) {
            if (Math.abs(v) > MAX_EXACT) {
              throw new InvalidInputError(`${where} is ${v}, beyond 2^53 where numbers are not exact; pass a BigInt`)
            }
            return v
          }
          if (Number.isNaN(v)) throw new InvalidInputError(`${where} is NaN; an integer is expected`)
          if (!Number.isFinite(v)) throw new InvalidInputError(`${where} is ${v}; an integer is expected`)
          throw new InvalidInputError(`${where} is ${v}: a fractional number where an integer is expected`)
        case 'bigint':
          big = true
          return `${BIGINT_IN}${v}`
        case 'function':
        case 'symbol':
          throw new InvalidInputError(`${where} is a ${typeof v}; a JSON value is expected`)
        case 'object':
          if (v !== null && /** @type {any} */ (this)[key] !== v) {
            throw new InvalidInputError(`${where} is a ${v?.constructor?.name ?? 'special object'}; a plain value is expected`)
          }
          return v
        default:
          if (typeof v === 'string' && v !== /** @type {any} */ (this)[key]) {
            throw new InvalidInputError(`${where} is an object with its own JSON form; a plain value is expected`)
          }
          return v
      }
    })
  } catch (e) {
    if (e instanceof InvalidInputError) throw e
    throw new InvalidInputError(`${what} cannot be converted: ${/** @type {Error} */ (e)?.message}`)
  }
  if (text === undefined) throw new InvalidInputError(`${what} is not a JSON value`)
  if (text.length > MAX_TEXT) throw new InvalidInputError(`${what} is ${text.length} characters of JSON, more than ${MAX_TEXT}`)
  return big ? text.replace(BIGINT_IN_TEXT, '$1') : text
}

/**
 * Parses JSON text from the module; marked big integers become BigInt.
 * @param {string} text
 * @returns {any}
 */
export function fromJson(text) {
  if (!text.includes('\\u0000bigint:')) return JSON.parse(text)
  return JSON.parse(text, (_, v) => (typeof v === 'string' && v.startsWith(BIGINT_OUT) ? BigInt(v.slice(BIGINT_OUT.length)) : v))
}

/**
 * @param {unknown} value
 * @param {string} what
 */
export function requireObject(value, what) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidInputError(`${what} must be a plain object, got ${describe(value)}`)
  }
}
