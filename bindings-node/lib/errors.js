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
   * @param {string} reason `attempts_exhausted`, `deadline`, `cancelled`, `locked`, ... (the machine's)
   * @param {Record<string, unknown>} stats the machine's acquisition stats
   * @param {ErrorOptions & {code?: string}} [options]
   */
  constructor(resources, reason, stats, options) {
    const how = typeof stats.attempts === 'number' ? `after ${stats.attempts} attempt(s) ` : ''
    super(
      options?.code ?? 'LOCK_NOT_ACQUIRED',
      `lock on ${JSON.stringify(resources)} not acquired (${reason}) ${how}in ${stats.latency ?? 0} ms`,
      options
    )
    this.resources = resources
    this.reason = reason
    this.stats = stats
  }
}

/**
 * A PostgreSQL advisory lock saw its statements run on two backends: the
 * connection goes through a transaction-mode pooler (or is otherwise not
 * pinned to one session). Code `SESSION_NOT_PINNED`; a LockNotAcquiredError
 * (reason `session_not_pinned`). Use a direct connection or session pooling.
 */
class SessionNotPinnedError extends LockNotAcquiredError {
  /**
   * @param {string[]} resources
   * @param {Record<string, unknown>} stats
   */
  constructor(resources, stats) {
    super(resources, 'session_not_pinned', stats, { code: 'SESSION_NOT_PINNED' })
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
   * @param {string} reason the machine's: `expired`, `extension_failed`, `rejected` (Redlock), `revoked`, `key_deleted` (etcd), `session_expired`, `node_deleted`, `owner_mismatch` (ZooKeeper), `session_lost`, `not_held`, `session_not_pinned` (PostgreSQL)
   * @param {number | null} heldFor ms from acquisition to the end of the hold (`null`: lost before it was held)
   */
  constructor(resources, reason, heldFor) {
    const held = heldFor === null || heldFor === undefined ? 'before it was acquired' : `after ${heldFor} ms`
    super('LEASE_LOST', `lease on ${JSON.stringify(resources)} lost (${reason}) ${held}`)
    this.resources = resources
    this.reason = reason
    this.heldFor = heldFor
  }
}

/**
 * An etcd JSON-gateway body the core's codec could not decode
 * (`ETCD_GATEWAY_JSON`, `ETCD_GATEWAY_FIELD`: errors.json "wire").
 */
class WireError extends FencelockError {}

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
 * @param {'config' | 'usage' | 'wire'} kind
 * @returns {Error}
 */
function fromNative(e, kind) {
  if (!(e instanceof Error)) return new InternalError(`native module threw ${String(e)}`)
  const code = /** @type {{code?: unknown}} */ (e).code
  if (code === 'INVALID_INPUT' || code === 'INVALID_IDENTIFIER') {
    return new InvalidInputError(e.message, { code })
  }
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code) && code !== 'INTERNAL') {
    if (code.startsWith('ETCD_GATEWAY_') || code.startsWith('RESP_')) return new WireError(code, e.message)
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
  SessionNotPinnedError,
  WireError,
  InternalError,
  fromNative,
}
