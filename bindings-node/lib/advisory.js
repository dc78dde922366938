'use strict'
// High level: PostgreSQL advisory locks with a fencing counter, over `pg`. Each
// held lock pins one connection (a `pg.Client`, or a pool client checked out
// for the lock's whole life), used by nothing else; the machine's statements
// run on it in emission order; what they return goes back to the machine.
// Every lock decision (the SQL, the pid checks, retries) is the core's.

const native = require('../native.js')
const { describe, toJson } = require('./machine.js')
const { InvalidInputError, SessionNotPinnedError, fromNative } = require('./errors.js')
const { clock, randomSeed, integer, boolean, string, optionsObject, retryConfig, seedText, eventsOf, acquireOptions, usingLease } = require('./host.js')
const { SessionDriver, SessionLease } = require('./session.js')

/** Outcomes after which the connection is closed instead of reused. */
const DESTROY = new Set(['session_not_pinned', 'unconfirmed', 'session_lost'])

/**
 * What `pg` threw, as the machine's error result.
 * @param {any} e
 */
function errorResult(e) {
  const message = String(e?.message ?? e)
  const code = typeof e?.code === 'string' ? e.code : ''
  const sqlstate = e?.severity !== undefined && /^[0-9A-Z]{5}$/.test(code) ? code : ''
  if (
    e?.severity === 'FATAL' ||
    e?.severity === 'PANIC' ||
    sqlstate.startsWith('57P') ||
    sqlstate.startsWith('08') ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ECONNREFUSED' ||
    /Connection terminated|Client has encountered a connection error|not queryable|connection .*(closed|ended)/i.test(message)
  ) {
    return { type: 'error', kind: 'connection', code: sqlstate, message }
  }
  if (sqlstate !== '') return { type: 'error', kind: 'server', code: sqlstate, message }
  // pg's own query timeout (`query_timeout`): no answer in time.
  if (/timeout/i.test(message)) return { type: 'error', kind: 'timeout', code: '', message }
  return { type: 'error', kind: 'server', code: '', message }
}

/**
 * @typedef {{client: any, release: (destroy: boolean) => void, onLost: (() => void) | null, busy: number, ended: boolean, returned: boolean}} Pinned
 * `ended`: the connection closed; `returned`: it went back to its pool (or was closed) by us.
 */

/**
 * Where connections come from: a `pg.Pool` (one checked out per lock), a
 * function returning a connected `pg.Client` (ended after the lock), or one
 * `pg.Client` (the lock's session; the application keeps it).
 * @param {unknown} source
 * @returns {() => Promise<{client: any, release: (destroy: boolean) => void}>}
 */
function connectionsOf(source) {
  const s = /** @type {any} */ (source)
  if (typeof s === 'function') {
    return async () => {
      const client = await s()
      if (client === null || typeof client !== 'object' || typeof client.query !== 'function') {
        throw new InvalidInputError('the connection factory must resolve to a pg.Client')
      }
      return {
        client,
        release: () => {
          client.end().catch(() => {})
        },
      }
    }
  }
  if (s !== null && typeof s === 'object' && typeof s.query === 'function' && typeof s.connect === 'function') {
    if ('totalCount' in s && 'idleCount' in s) {
      // pg.Pool: a client checked out for the lock's whole life.
      return async () => {
        const client = await s.connect()
        return { client, release: (destroy) => client.release(destroy ? true : undefined) }
      }
    }
    // One pg.Client: the application's connection, used by this lock only.
    return async () => ({
      client: s,
      release: (destroy) => {
        if (destroy) s.end().catch(() => {})
      },
    })
  }
  throw new InvalidInputError(
    `expected a pg.Pool, a pg.Client or a function returning a connected pg.Client, got ${describe(source)}`
  )
}

/**
 * @param {Pinned} pinned
 * @returns {import('./session.js').Backend}
 */
function backend(pinned) {
  return {
    run(driver, command) {
      const req = command.req
      if (command.type !== 'query') throw new Error(`unknown command ${command.type}`)
      if (pinned.ended) {
        queueMicrotask(() => driver.reply(req, { type: 'error', kind: 'connection', code: '', message: 'the connection ended' }))
        return
      }
      pinned.busy++
      let promise
      try {
        promise = pinned.client.query({ text: command.sql, values: command.params, rowMode: 'array' })
      } catch (e) {
        promise = Promise.reject(e)
      }
      Promise.resolve(promise).then(
        (/** @type {any} */ result) => {
          pinned.busy--
          const row = result?.rows?.[0]
          driver.reply(req, row === undefined ? { type: 'done' } : { type: 'row', values: row })
        },
        (/** @type {unknown} */ e) => {
          pinned.busy--
          driver.reply(req, errorResult(e))
        }
      )
    },
    acquireError(driver, event) {
      return event.reason === 'session_not_pinned' ? new SessionNotPinnedError([driver.name], event.stats) : undefined
    },
    onEvent(driver, event) {
      const destroy =
        (event.type === 'acquire_failed' && DESTROY.has(event.reason)) ||
        (event.type === 'released' && DESTROY.has(event.outcome)) ||
        (event.type === 'lost' && DESTROY.has(event.reason))
      if (destroy && !pinned.returned) {
        pinned.returned = true
        pinned.release(true)
      } else if ((event.type === 'acquire_failed' || event.type === 'released') && !pinned.returned) {
        pinned.returned = true
        pinned.release(pinned.ended)
      }
      if (driver.done) {
        pinned.client.removeListener?.('error', pinned.onLost)
        pinned.client.removeListener?.('end', pinned.onLost)
      }
    },
  }
}

/** A held PostgreSQL advisory lock: the same shape as a Redlock lease (no TTL: it lasts as long as its session). */
class AdvisoryLease extends SessionLease {
  /** Fencing token: the name's counter in `fencelock_fence` (strictly increasing between holders). @returns {number | bigint} */
  get fencingToken() {
    return this.driver.lock.token
  }

  /** The backend pid of the pinned session. @returns {number} */
  get pid() {
    return this.driver.lock.pid
  }

  /** No TTL: `Infinity` while held (a check finds a terminated session within `checkInterval`). @returns {number} */
  get validUntil() {
    return Infinity
  }

  /** `Infinity` while held, 0 otherwise. @returns {number} */
  remaining() {
    return this.state === 'held' ? Infinity : 0
  }
}

const OPTION_KEYS = ['requestTimeout', 'checkInterval', 'retry', 'seed', 'onEvent']

/** A PostgreSQL advisory lock: `pg_try_advisory_lock(hashtextextended(name, 0))` with a fencing counter. */
class AdvisoryLock {
  /** @type {() => Promise<{client: any, release: (destroy: boolean) => void}>} */
  #connect
  /** @type {InstanceType<typeof native.MachineTemplate>} */
  #template
  /** @type {string | undefined} */
  #seed
  /** @type {(type: string, event: any, fields: Record<string, unknown>) => void} */
  #notify

  /**
   * @param {unknown} source a `pg.Pool`, a `pg.Client`, or `() => Promise<pg.Client>`
   * @param {Record<string, unknown>} [options]
   */
  constructor(source, options = {}) {
    this.#connect = connectionsOf(source)
    const o = optionsObject('options', options, OPTION_KEYS)
    /** @type {Record<string, unknown>} */
    const config = {}
    if (o.requestTimeout !== undefined) config.request_timeout = o.requestTimeout === null ? null : integer('requestTimeout', o.requestTimeout)
    if (o.checkInterval !== undefined) config.check_interval = o.checkInterval === null ? null : integer('checkInterval', o.checkInterval)
    if (o.retry !== undefined) config.retry = retryConfig(o.retry)
    this.#seed = o.seed === undefined ? undefined : seedText(o.seed)
    const { events, notify } = eventsOf(o.onEvent)
    /** Lifecycle events of every lock (camelCase types, and `event` for all). */
    this.events = events
    this.#notify = notify
    try {
      this.#template = new native.MachineTemplate('advisory_lock', toJson(config, 'options'))
    } catch (e) {
      throw fromNative(e, 'config')
    }
  }

  /**
   * Locks `name` on a connection of its own. Rejects with LockNotAcquiredError
   * (`locked` for a try-lock, `deadline`, `cancelled`, `attempts_exhausted`,
   * `already_held`, `session_lost`) or SessionNotPinnedError.
   * @param {string} name
   * @param {{timeout?: number | null, tryLock?: boolean, signal?: AbortSignal}} [options]
   * @returns {Promise<AdvisoryLease>}
   */
  async acquire(name, options = {}) {
    const { o, signal, timeout } = acquireOptions(options, ['timeout', 'tryLock', 'signal'])
    const lockName = string('name', name)
    const tryLock = o.tryLock === undefined ? false : boolean('tryLock', o.tryLock)
    const init = toJson({ now: clock(), name: lockName, timeout, try_lock: tryLock }, 'init')
    /** @type {any} */
    let machine
    try {
      machine = this.#template.build(init, this.#seed ?? randomSeed())
    } catch (e) {
      throw fromNative(e, 'config')
    }
    const connection = await this.#connect()
    /** @type {Pinned} */
    const pinned = { ...connection, onLost: null, busy: 0, ended: false, returned: false }
    const driver = new SessionDriver(machine, backend(pinned), lockName, this.#notify)
    // The connection ending between statements is a lost session; during a
    // statement, that statement fails with a connection error instead.
    pinned.onLost = () => {
      if (pinned.busy === 0 && !driver.done) {
        pinned.ended = true
        driver.deliver({ type: 'session_lost', now: clock() })
      }
    }
    pinned.client.on('error', pinned.onLost)
    pinned.client.on('end', pinned.onLost)
    try {
      await driver.start(signal)
    } catch (e) {
      if (!driver.done && !pinned.returned) {
        // A host failure (not an outcome of the machine): the session's state is unknown.
        pinned.returned = true
        pinned.release(true)
      }
      throw e
    }
    return new AdvisoryLease(driver)
  }

  /**
   * Runs `routine` while holding `name`, then releases it (the routine's own
   * error is rethrown unmasked).
   * @template T
   * @param {string} name
   * @param {{timeout?: number | null, signal?: AbortSignal} | ((signal: AbortSignal, lease: AdvisoryLease) => Promise<T>)} optionsOrRoutine
   * @param {(signal: AbortSignal, lease: AdvisoryLease) => Promise<T>} [maybeRoutine]
   * @returns {Promise<T>}
   */
  async using(name, optionsOrRoutine, maybeRoutine) {
    return usingLease(optionsOrRoutine, maybeRoutine, 'using(name, [options], async (signal, lease) => ...)', (options) => this.acquire(name, options))
  }
}

module.exports = { AdvisoryLock, AdvisoryLease, errorResult }
