'use strict'
// Resource-side fencing: the guard that admits a token only if it is at least
// the highest admitted so far, in memory, in Redis (a Lua compare-and-set) and
// in SQL (an UPDATE ... WHERE fence <= $token). The rule and the script text
// come from the core.

const native = require('../native.js')
const { fromNative, InvalidInputError, FencelockError } = require('./errors.js')
const { adapt, evalScript } = require('./clients.js')
const { describe } = require('./machine.js')

/**
 * @param {string} name
 * @param {unknown} token
 * @returns {number | bigint}
 */
function tokenValue(name, token) {
  if (typeof token === 'bigint') {
    if (token < 0n) throw new InvalidInputError(`${name} must not be negative`)
    return token
  }
  if (typeof token !== 'number' || !Number.isSafeInteger(token) || token < 0) {
    throw new InvalidInputError(`${name} must be a non-negative integer (number or BigInt), got ${describe(token)}`)
  }
  return token
}

/**
 * In-memory guard: `admit(token)` accepts a token at least as high as the
 * highest admitted so far (equal tokens pass, so one holder may write often).
 */
class FenceGuard {
  /** @type {InstanceType<typeof native.FenceGuard>} */
  #native

  /** @param {number | bigint | null} [highest] resume from a persisted highest token */
  constructor(highest = null) {
    const start = highest === null || highest === undefined ? null : String(tokenValue('highest', highest))
    try {
      this.#native = new native.FenceGuard(start)
    } catch (e) {
      throw fromNative(e, 'usage')
    }
  }

  /**
   * Admits (and records) `token`, or refuses it as stale.
   * @param {number | bigint} token
   * @returns {{accepted: true} | {accepted: false, highest: number | bigint}}
   */
  admit(token) {
    /** @type {string | null} */
    let highest
    try {
      highest = this.#native.admit(String(tokenValue('token', token)))
    } catch (e) {
      throw fromNative(e, 'usage')
    }
    return highest === null ? { accepted: true } : { accepted: false, highest: exact(highest) }
  }

  /** Highest token admitted so far, or `null`. @returns {number | bigint | null} */
  get highest() {
    const highest = this.#native.highest
    return highest === null ? null : exact(highest)
  }
}

/**
 * A decimal token as a number, or a BigInt beyond 2^53 - 1.
 * @param {string} digits
 */
function exact(digits) {
  const n = Number(digits)
  return Number.isSafeInteger(n) ? n : BigInt(digits)
}

/**
 * A value in Redis that only current holders may write: keys `<name>:fence`
 * (highest admitted token) and `<name>:data` (the value), written by the
 * core's fenced compare-and-set script.
 */
class RedisFence {
  #adapter
  #keys
  /** @type {{sha1: string, source: string}} */
  #script = native.redisFencedSet()

  /**
   * @param {unknown} client an ioredis or node-redis client
   * @param {string} name the resource's key prefix
   */
  constructor(client, name) {
    this.#adapter = adapt(client)
    if (typeof name !== 'string' || name.length === 0) throw new InvalidInputError('RedisFence needs a non-empty name')
    this.#keys = [`${name}:fence`, `${name}:data`]
    this.client = client
  }

  /** The keys the script uses: highest token, then data. */
  get keys() {
    return [...this.#keys]
  }

  /**
   * Writes `value` if `token` is at least the highest token admitted so far.
   * @param {number | bigint} token
   * @param {string} value
   * @returns {Promise<{accepted: boolean, highest: number | bigint}>}
   */
  async write(token, value) {
    const t = tokenValue('token', token)
    if (typeof value !== 'string') throw new InvalidInputError(`value must be a string, got ${describe(value)}`)
    /** @type {import('./clients.js').NodeReply} */
    const reply = await evalScript(this.#adapter, this.#script, this.#keys, [String(t), value])
    if (reply.type !== 'int') {
      const message = reply.type === 'error' ? reply.message : `unexpected ${reply.type} reply`
      throw new FencelockError('FENCED_WRITE_FAILED', `fenced write to ${this.#keys[1]} failed: ${message}`)
    }
    // The script answers the highest admitted token after the call: ours if the write happened.
    return { accepted: BigInt(reply.value) === BigInt(t), highest: reply.value }
  }
}

/**
 * The fenced SQL UPDATE (PostgreSQL placeholders):
 * `UPDATE <table> SET <c1> = $1, ..., <fence> = $N WHERE <key> = $N+1 AND <fence> <= $N`.
 * Bind the column values, then the token, then the row key; one affected row
 * means the write was admitted.
 * @param {string} table
 * @param {string[]} columns
 * @param {string} fenceColumn
 * @param {string} keyColumn
 * @returns {string}
 */
function fencedUpdateSql(table, columns, fenceColumn, keyColumn) {
  for (const [what, v] of [['table', table], ['fenceColumn', fenceColumn], ['keyColumn', keyColumn]]) {
    if (typeof v !== 'string') throw new InvalidInputError(`${what} must be a string, got ${describe(v)}`)
  }
  if (!Array.isArray(columns) || columns.some((c) => typeof c !== 'string')) {
    throw new InvalidInputError('columns must be an array of strings')
  }
  try {
    return native.fencedUpdateSql(table, columns, fenceColumn, keyColumn)
  } catch (e) {
    throw fromNative(e, 'usage')
  }
}

/**
 * A SQL row that only current holders may update, through any client with
 * `query(text, params)` resolving to `{rowCount}` (node-postgres and alikes).
 */
class SqlFence {
  /**
   * @param {{table: string, columns: string[], fenceColumn: string, keyColumn: string}} spec
   */
  constructor(spec) {
    if (spec === null || typeof spec !== 'object') throw new InvalidInputError('SqlFence needs {table, columns, fenceColumn, keyColumn}')
    /** The UPDATE statement. */
    this.sql = fencedUpdateSql(spec.table, spec.columns, spec.fenceColumn, spec.keyColumn)
    this.columns = [...spec.columns]
  }

  /**
   * Updates the row `key` with `values` (in `columns` order) if `token` is at
   * least the row's fence. Resolves `true` if the write was admitted.
   * @param {{query: (text: string, params: unknown[]) => Promise<{rowCount: number | null}>}} client
   * @param {unknown} key
   * @param {unknown[]} values
   * @param {number | bigint} token
   */
  async update(client, key, values, token) {
    if (client === null || typeof client !== 'object' || typeof client.query !== 'function') {
      throw new InvalidInputError('client must have query(text, params) (node-postgres or alike)')
    }
    if (!Array.isArray(values) || values.length !== this.columns.length) {
      throw new InvalidInputError(`values must be an array of ${this.columns.length} value(s)`)
    }
    const t = tokenValue('token', token)
    const result = await client.query(this.sql, [...values, String(t), key])
    return result.rowCount === 1
  }
}

module.exports = { FenceGuard, RedisFence, SqlFence, fencedUpdateSql }
