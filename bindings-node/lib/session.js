'use strict'
// The drive loop shared by the backends whose machines work inside a client
// session (ZooKeeper, PostgreSQL): each command is one call on the host's
// client, made at once and in emission order; each answer is delivered to the
// machine that sent the command (a driver owns its machine for life, so a late
// answer never reaches another lock); outcomes are read from the machine's
// events. No lock logic lives here.

const { toJson, fromJson } = require('./machine.js')
const { InternalError, LockLostError, LockNotAcquiredError, UsageError, fromNative } = require('./errors.js')
const { clock, camel, Timer } = require('./host.js')

/**
 * @typedef {{resolve: (v: any) => void, reject: (e: unknown) => void}} Waiter
 */

/**
 * @typedef {object} Backend
 * @property {(driver: SessionDriver, command: any) => void} run
 *   Performs a command; delivers its answer with `driver.reply(req, result)`.
 * @property {(driver: SessionDriver, event: any) => void} [onEvent] called for every event
 * @property {(driver: SessionDriver, event: any) => Error | undefined} [acquireError] the error an acquire_failed rejects with (default: LockNotAcquiredError)
 */

/**
 * Drives one session machine with its backend until it is done. The etcd
 * driver extends it: it performs its outputs itself (`perform`, `pending`)
 * and has more waiters (`busy`, `failAll`, `finish`).
 */
class SessionDriver {
  /**
   * @param {any} machine a native machine
   * @param {Backend | null} backend `null` for a subclass that performs its outputs itself
   * @param {string} name the lock's name or path
   * @param {(type: string, event: any, fields: Record<string, unknown>) => void} notify
   */
  constructor(machine, backend, name, notify) {
    this.machine = machine
    this.backend = backend
    this.name = name
    this.notify = notify
    this.timer = new Timer(() => this.feed(() => this.machine.driveTimeout(clock())))
    /** Requests whose answer has not come back. */
    this.inflight = 0
    /** @type {Waiter | null} */
    this.acquireWaiter = null
    /** @type {Waiter | null} */
    this.releaseWaiter = null
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
    /** The terminal event (acquire_failed or released), once seen. @type {any} */
    this.end = null
    /** Backend state (the pinned connection, the client). @type {any} */
    this.context = null
    /** @type {any[]} */
    this.reports = []
  }

  busy() {
    return this.acquireWaiter !== null || this.releaseWaiter !== null
  }

  /** Requests whose answer has not come back (a busy machine with none and no timer is stalled). */
  pending() {
    return this.inflight
  }

  /**
   * Applies an input the host produced; the machine refusing it is a bug.
   * Returns what the machine returned (`null`: nothing was applied, or it refused).
   * @param {() => number | string | null} fn
   * @returns {number | string | null}
   */
  feed(fn) {
    /** @type {number | string | null} */
    let result
    try {
      result = fn()
    } catch (e) {
      const error = fromNative(e, 'usage')
      this.failAll(error instanceof InternalError ? error : new InternalError(`host bug: ${error.message}`, { cause: error }))
      return null
    }
    if (result !== null) this.drive(result)
    return result
  }

  /**
   * An input (the vocabulary's object) from the host: a connection change.
   * @param {object} input
   */
  deliver(input) {
    if (this.done) return
    this.feed(() => this.machine.driveJson(toJson(input, 'input')))
  }

  /**
   * The answer to request `req` (the vocabulary's `result` object).
   * @param {number} req
   * @param {object} result
   */
  reply(req, result) {
    this.inflight--
    if (this.done) return
    this.feed(() => this.machine.driveJson(toJson({ type: 'reply', now: clock(), req, result }, 'reply')))
  }

  /**
   * A watch notification for request `req` (ZooKeeper).
   * @param {number} req
   * @param {string} event
   */
  watchFired(req, event) {
    if (this.done) return
    this.feed(() => this.machine.driveJson(`{"type":"watch","now":${clock()},"req":${req},"event":"${event}"}`))
  }

  /**
   * An input the caller asked for; throws the machine's typed error.
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

  /** @param {number | string} result */
  drive(result) {
    if (typeof result === 'number') {
      this.timer.arm(result < 0 ? null : result, this.busy())
    } else {
      // [timeout, output...]: {event: {...}} | what `perform` takes
      const outputs = fromJson(result)
      for (let i = 1; i < outputs.length; i++) {
        const output = outputs[i]
        if (output.event !== undefined) this.onEvent(output.event)
        else this.perform(output)
      }
      this.timer.arm(outputs[0] === null ? null : Number(outputs[0]), this.busy())
    }
    if (this.busy() && this.timer.at === null && this.pending() === 0 && !this.done) {
      this.failAll(new InternalError(`machine stalled in state ${this.machine.state}`))
    }
    if (this.reports.length > 0) {
      const reports = this.reports
      this.reports = []
      for (const event of reports) this.notify(event.type, event, { name: this.name })
    }
  }

  /**
   * Performs an output other than an event: `{command: {...}}`, through the backend.
   * @param {any} output
   */
  perform(output) {
    if (output.command !== undefined && this.backend !== null) {
      this.inflight++
      try {
        this.backend.run(this, output.command)
      } catch (e) {
        this.inflight--
        this.failAll(new InternalError(`cannot perform ${output.command.type}: ${/** @type {Error} */ (e).message}`, { cause: e }))
      }
    } else {
      this.failAll(new InternalError(`cannot perform output ${JSON.stringify(output)}`))
    }
  }

  /** @param {any} event */
  onEvent(event) {
    this.handle(event)
    if (this.done) this.finish()
    this.backend?.onEvent?.(this, event)
    this.reports.push(event)
  }

  /**
   * What an event changes: the lock, the waiters, `done`.
   * @param {any} event
   */
  handle(event) {
    switch (event.type) {
      case 'acquired': {
        this.lock = event.lock
        this.stats = event.stats
        const waiter = this.acquireWaiter
        this.acquireWaiter = null
        waiter?.resolve(undefined)
        break
      }
      case 'checked':
      case 'uncertain':
      case 'expiry_warning':
        if (this.lock !== null && event.valid_until !== undefined && this.lost === null) {
          this.lock = { ...this.lock, valid_until: event.valid_until }
        }
        break
      case 'acquire_failed': {
        this.done = true
        this.end = event
        const waiter = this.acquireWaiter
        this.acquireWaiter = null
        if (waiter !== null) {
          const custom = this.acquireError(event)
          if (custom !== undefined) {
            waiter.reject(custom)
          } else {
            const options = this.cancelCause === undefined ? undefined : { cause: this.cancelCause }
            waiter.reject(new LockNotAcquiredError([this.name], event.reason, camel(event.stats), options))
          }
        }
        this.releaseWaiter?.resolve('released')
        this.releaseWaiter = null
        break
      }
      case 'lost': {
        const error = new LockLostError([this.name], event.reason, event.held_for ?? null)
        this.lost = error
        this.controller?.abort(error)
        break
      }
      case 'released': {
        this.done = true
        this.end = event
        const waiter = this.releaseWaiter
        this.releaseWaiter = null
        waiter?.resolve(event.outcome)
        break
      }
      default:
        break
    }
  }

  /**
   * The error an `acquire_failed` rejects the acquisition with, when not the
   * usual LockNotAcquiredError.
   * @param {any} event
   * @returns {Error | undefined}
   */
  acquireError(event) {
    return this.backend?.acquireError?.(this, event)
  }

  /** The machine is done: stops its timer. */
  finish() {
    this.done = true
    this.timer.clear()
  }

  /** @param {Error} error */
  failAll(error) {
    const waiters = [this.acquireWaiter, this.releaseWaiter]
    this.acquireWaiter = this.releaseWaiter = null
    for (const w of waiters) w?.reject(error)
  }

  /**
   * Starts the machine and waits for its first outcome: the acquisition's, or
   * what the waiter `slot` is given.
   * @param {AbortSignal | undefined} signal
   * @param {string} [slot] the waiter property to set
   * @returns {Promise<any>}
   */
  start(signal, slot = 'acquireWaiter') {
    const waiters = /** @type {Record<string, Waiter | null>} */ (/** @type {unknown} */ (this))
    return new Promise((resolve, reject) => {
      /** @type {(() => void) | null} */
      let onAbort = null
      const finish = () => {
        if (onAbort !== null) signal?.removeEventListener('abort', onAbort)
      }
      waiters[slot] = {
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
          if (waiters[slot] === null || this.done) return
          this.cancelCause = signal.reason
          this.feed(() => this.machine.driveJson(`{"type":"release","now":${clock()}}`))
        }
        signal.addEventListener('abort', onAbort, { once: true })
      }
      this.feed(() => this.machine.driveDrain())
    })
  }
}

/**
 * A held ZooKeeper or PostgreSQL lock (and the base of the etcd lease): the
 * same shape as a Redlock lease.
 */
class SessionLease {
  /** @type {SessionDriver} */
  #driver
  /** @type {Promise<string> | null} */
  #releasing = null

  /** @param {SessionDriver} driver */
  constructor(driver) {
    this.#driver = driver
  }

  /** @protected */
  get driver() {
    return this.#driver
  }

  /** The lock's name (PostgreSQL) or path (ZooKeeper), as the only resource. @returns {string[]} */
  get resources() {
    return [this.#driver.name]
  }

  /** The lock's name or path. @returns {string} */
  get name() {
    return this.#driver.name
  }

  /** When the lock was acquired, on the `performance.now()` ms clock. @returns {number} */
  get acquiredAt() {
    return Number(this.#driver.lock.acquired_at)
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

  /** The machine's state: `held`, `uncertain`, `lost`, `releasing`, `released`. @returns {string} */
  get state() {
    return this.#driver.machine.state
  }

  /** Why the lock was lost (the machine's reason), or `null`. @returns {string | null} */
  get lostReason() {
    return this.#driver.lost?.reason ?? null
  }

  /** The acquisition's statistics (the machine's, camelCase). @returns {Record<string, unknown>} */
  get stats() {
    return camel(this.#driver.stats)
  }

  /**
   * These locks need no extension (the session keeps them): resolves `true`
   * while held; rejects with the LockLostError once lost, a UsageError
   * (`INVALID_STATE`) otherwise.
   * @returns {Promise<boolean>}
   */
  async extend() {
    const driver = this.#driver
    if (driver.lost !== null) throw driver.lost
    const state = this.state
    if (state === 'held') return true
    throw new UsageError('INVALID_STATE', `extend is not allowed while the lock is ${state}`)
  }

  /**
   * Releases the lock. Resolves with the machine's outcome (`released`,
   * `already_expired`, `not_held`, `session_lost`, ...); never times out.
   * Rejects with a UsageError (`INVALID_STATE`) if already released.
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

  /** Releases unless already released (for `await using`). */
  async [Symbol.asyncDispose]() {
    if (this.#releasing !== null) {
      await this.#releasing
      return
    }
    const state = this.state
    if (state === 'released' || state === 'failed') return
    await this.release()
  }
}

module.exports = { SessionDriver, SessionLease }
