'use strict'
// Typed errors. Every error fencelock throws is a FencelockError with a stable
// `code` listed in conformance/errors.json; messages are for humans only.

/** Base class: `code` is stable across versions and languages. */
class FencelockError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {ErrorOptions} [options]
   */
  constructor(code, message, options) {
    super(message, options)
    this.name = new.target.name
    /** @type {string} */
    this.code = code
  }
}

/** A machine could not be built from its configuration or arguments (errors.json "config"). */
class ConfigError extends FencelockError {}

/** A machine or lease was misused (errors.json "usage"): it is left unchanged. */
class UsageError extends FencelockError {}

/**
 * A value could not be turned into a core input or config: wrong type, NaN,
 * Infinity, negative or fractional where an integer is needed, an object that
 * is not a Redis client (code `INVALID_INPUT`), or an identifier that is not a
 * plain SQL identifier (`INVALID_IDENTIFIER`).
 */
class InvalidInputError extends FencelockError {
  /**
   * @param {string} message
   * @param {ErrorOptions & {code?: string}} [options]
   */
  constructor(message, options) {
    super(options?.code ?? 'INVALID_INPUT', message, options)
  }
}

/** The acquisition ended without a lease: the core's `acquire_failed` reason and stats. */
class LockNotAcquiredError extends FencelockError {
  /**
   * @param {string[]} resources
   * @param {string} reason `attempts_exhausted`, `deadline` or `cancelled`
   * @param {{latency: number, attempts: number, contended: number}} stats
   * @param {ErrorOptions} [options]
   */
  constructor(resources, reason, stats, options) {
    super(
      'LOCK_NOT_ACQUIRED',
      `lock on ${JSON.stringify(resources)} not acquired (${reason}) after ${stats.attempts} attempt(s) in ${stats.latency} ms`,
      options
    )
    this.resources = resources
    this.reason = reason
    this.stats = stats
  }
}

/**
 * The lease is lost: stop using the protected resource. Also the reason of the
 * lease's AbortSignal. Code `LEASE_LOST`, as the core's usage error for
 * extending a lost lease.
 */
class LockLostError extends FencelockError {
  /**
   * @param {string[]} resources
   * @param {string} reason `expired`, `extension_failed` or `rejected`
   * @param {number} heldFor ms from acquisition to the end of the hold
   */
  constructor(resources, reason, heldFor) {
    super('LEASE_LOST', `lease on ${JSON.stringify(resources)} lost (${reason}) after ${heldFor} ms`)
    this.resources = resources
    this.reason = reason
    this.heldFor = heldFor
  }
}

/** A bug inside fencelock (a Rust panic caught at the boundary, a stalled machine). */
class InternalError extends FencelockError {
  /**
   * @param {string} message
   * @param {ErrorOptions} [options]
   */
  constructor(message, options) {
    super('INTERNAL', message, options)
  }
}

/**
 * Turns an error thrown by the native module into a typed error. `kind` says
 * what was called: building a machine or checking a config ("config"), or
 * applying an input ("usage").
 * @param {unknown} e
 * @param {'config' | 'usage'} kind
 * @returns {Error}
 */
function fromNative(e, kind) {
  if (!(e instanceof Error)) return new InternalError(`native module threw ${String(e)}`)
  const code = /** @type {{code?: unknown}} */ (e).code
  if (code === 'INVALID_INPUT' || code === 'INVALID_IDENTIFIER') {
    return new InvalidInputError(e.message, { code })
  }
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code) && code !== 'INTERNAL') {
    return kind === 'config' ? new ConfigError(code, e.message) : new UsageError(code, e.message)
  }
  // napi status codes (GenericFailure after a caught panic, ...) and INTERNAL.
  return new InternalError(e.message, { cause: e })
}

module.exports = {
  FencelockError,
  ConfigError,
  UsageError,
  InvalidInputError,
  LockNotAcquiredError,
  LockLostError,
  InternalError,
  fromNative,
}
