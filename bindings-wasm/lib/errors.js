// Typed errors. Every error fencelock throws is a FencelockError with a stable
// `code` listed in conformance/errors.json; messages are for humans only. The
// classes and codes are the Node binding's.

/** Base class: `code` is stable across versions and languages. */
export class FencelockError extends Error {
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
export class ConfigError extends FencelockError {}

/** A machine or lease was misused (errors.json "usage"): it is left unchanged. */
export class UsageError extends FencelockError {}

/**
 * A value could not be turned into a core input or config: wrong type, NaN,
 * Infinity, negative or fractional where an integer is needed (code
 * `INVALID_INPUT`), or an identifier that is not a plain SQL identifier
 * (`INVALID_IDENTIFIER`).
 */
export class InvalidInputError extends FencelockError {
  /**
   * @param {string} message
   * @param {ErrorOptions & {code?: string}} [options]
   */
  constructor(message, options) {
    super(options?.code ?? 'INVALID_INPUT', message, options)
  }
}

/** The acquisition ended without a lease: the core's `acquire_failed` reason and stats. */
export class LockNotAcquiredError extends FencelockError {
  /**
   * @param {string[]} resources
   * @param {string} reason
   * @param {Record<string, unknown>} stats
   * @param {ErrorOptions} [options]
   */
  constructor(resources, reason, stats, options) {
    super('LOCK_NOT_ACQUIRED', `lock on ${JSON.stringify(resources)} not acquired (${reason}) after ${stats.latency} ms`, options)
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
export class LockLostError extends FencelockError {
  /**
   * @param {string[]} resources
   * @param {string} reason
   * @param {number | null} heldFor ms from acquisition to the end of the hold (`null`: never held)
   */
  constructor(resources, reason, heldFor) {
    super('LEASE_LOST', `lease on ${JSON.stringify(resources)} lost (${reason}) after ${heldFor ?? 0} ms`)
    this.resources = resources
    this.reason = reason
    this.heldFor = heldFor
  }
}

/** A bug inside fencelock (a trap caught at the boundary, a stalled machine). Code `INTERNAL`. */
export class InternalError extends FencelockError {
  /**
   * @param {string} message
   * @param {ErrorOptions} [options]
   */
  constructor(message, options) {
    super('INTERNAL', message, options)
  }
}

const CODE = /^([A-Z][A-Z0-9_]*): ([\s\S]*)$/

/**
 * Turns what the WebAssembly module threw into a typed error. The module
 * throws `"CODE: message"` strings; anything else (a trap, a glue error) is a
 * bug: InternalError. `kind` says what was called: building a machine or
 * checking a config ("config"), applying an input ("usage"), a codec ("wire").
 * @param {unknown} e
 * @param {'config' | 'usage' | 'wire'} kind
 * @returns {FencelockError}
 */
export function fromWasm(e, kind) {
  if (e instanceof FencelockError) return e
  if (typeof e === 'string') {
    const m = CODE.exec(e)
    if (m !== null) {
      const [, code = 'INTERNAL', message = ''] = m
      if (code === 'INVALID_INPUT' || code === 'INVALID_IDENTIFIER') return new InvalidInputError(message, { code })
      if (code === 'INTERNAL') return new InternalError(message)
      if (kind === 'config') return new ConfigError(code, message)
      if (kind === 'usage') return new UsageError(code, message)
      return new FencelockError(code, message)
    }
  }
  const message = e instanceof Error ? e.message : String(e)
  return new InternalError(`WebAssembly module failed: ${message}`, { cause: e })
}
