'use strict'
// Low level: the core's machines as classes whose inputs and outputs are the
// conformance vectors' JSON objects (snake_case keys; integers beyond 2^53 as
// BigInt). A thin, typed shell over the native module: it checks argument
// types, forwards, and maps native errors to typed errors.

const native = require('../native.js')
const { fromNative, InvalidInputError } = require('./errors.js')

/**
 * @param {unknown} value
 * @param {string} what
 */
function requireObject(value, what) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidInputError(`${what} must be a plain object, got ${describe(value)}`)
  }
}

/** @param {unknown} value */
function describe(value) {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'number') return String(value)
  return `a ${typeof value}`
}

const MAX_EXACT = 2 ** 53
/** Marks a BigInt while stringifying; replaced by its digits afterwards. */
const BIGINT_IN = `\u0000fencelock-bigint-${Math.random().toString(36).slice(2)}:`
const BIGINT_IN_TEXT = new RegExp(`"${BIGINT_IN.replace('\u0000', '\\\\u0000')}(-?[0-9]+)"`, 'g')
const BIGINT_OUT = native.BIGINT_MARKER

/**
 * A value as JSON text for the core, strictly: NaN, Infinity, fractions,
 * integers beyond 2^53 (pass a BigInt), functions, symbols and objects with
 * their own JSON form (Date, Buffer) are InvalidInputError; BigInts become
 * exact JSON integers.
 * @param {unknown} value
 * @param {string} what
 * @returns {string}
 */
function toJson(value, what) {
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
          // `v` differs from the raw property when the value has its own toJSON (Date, Buffer, ...).
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
    throw new InvalidInputError(`${what} cannot be converted: ${/** @type {Error} */ (e).message}`)
  }
  if (text === undefined) throw new InvalidInputError(`${what} is not a JSON value`)
  return big ? text.replace(BIGINT_IN_TEXT, '$1') : text
}

/**
 * Parses JSON text from the native module; integers beyond 2^53 - 1 (marked)
 * become BigInt.
 * @param {string} text
 * @returns {any}
 */
function fromJson(text) {
  if (!text.includes('\\u0000bigint:')) return JSON.parse(text)
  return JSON.parse(text, (_, v) => (typeof v === 'string' && v.startsWith(BIGINT_OUT) ? BigInt(v.slice(BIGINT_OUT.length)) : v))
}

/** Shared empty result (frozen). */
const NONE = /** @type {any[]} */ (/** @type {unknown} */ (Object.freeze([])))

/**
 * A core state machine, chosen by name, built from a vector's `config` and
 * `init` objects. Drive it like the core: after every input drain the outputs,
 * then arm one timer for `pollTimeout()`.
 */
class Machine {
  /** @type {InstanceType<typeof native.NativeMachine>} */
  #native
  /** Outputs of `handleInput` not yet taken by `pollOutput`. @type {any[]} */
  #pending = []

  /**
   * @param {string} machine a name from `machineNames()`
   * @param {object} config the vector's `config`
   * @param {object} init the vector's `init`
   */
  constructor(machine, config, init) {
    if (typeof machine !== 'string') {
      throw new InvalidInputError(`machine must be a string, got ${describe(machine)}`)
    }
    requireObject(config, 'config')
    requireObject(init, 'init')
    const configJson = toJson(config, 'config')
    const initJson = toJson(init, 'init')
    try {
      this.#native = new native.NativeMachine(machine, configJson, initJson)
    } catch (e) {
      throw fromNative(e, 'config')
    }
  }

  /** The machine's name (`"redlock"`, ...). */
  get machine() {
    return this.#native.machine
  }

  /**
   * Applies one input; on error the machine is unchanged and emits nothing.
   * @param {object} input
   */
  handleInput(input) {
    this.#pending = this.step(input)
  }

  /** The next output, or `null` once drained. */
  pollOutput() {
    if (this.#pending.length > 0) {
      const [first, ...rest] = this.#pending
      this.#pending = rest
      return first
    }
    try {
      const text = this.#native.pollOutputJson()
      return text === null ? null : fromJson(text)
    } catch (e) {
      throw fromNative(e, 'usage')
    }
  }

  /** When to deliver the next `timeout` input (ms), or `null`. */
  pollTimeout() {
    return this.#native.pollTimeout()
  }

  /**
   * Applies one input and drains every output, in one native call.
   * @param {object} input
   */
  step(input) {
    requireObject(input, 'input')
    const json = toJson(input, 'input')
    /** @type {string | null} */
    let text
    try {
      text = this.#native.stepJson(json)
    } catch (e) {
      throw fromNative(e, 'usage')
    }
    return text === null ? [] : this.#take(fromJson(text))
  }

  /**
   * The host's fast path for an integer reply: `step({type: "reply", now, req,
   * node, result: {type: "int", value}})` without building the object. The
   * numbers must be safe integers.
   * @param {number} now
   * @param {number} req
   * @param {number} node
   * @param {number} value
   * @returns {any[]}
   */
  replyInt(now, req, node, value) {
    /** @type {string | null} */
    let text
    try {
      text = this.#native.replyInt(now, req, node, value)
    } catch (e) {
      throw fromNative(e, 'usage')
    }
    return text === null ? NONE : this.#take(fromJson(text))
  }

  /**
   * Outputs still queued from an earlier `handleInput` come first.
   * @param {any[]} outputs
   */
  #take(outputs) {
    if (this.#pending.length === 0) return outputs
    const all = [...this.#pending, ...outputs]
    this.#pending = []
    return all
  }

  /** Drains every queued output (e.g. the first attempt's commands after construction). */
  drain() {
    /** @type {string | null} */
    let text
    try {
      text = this.#native.drainJson()
    } catch (e) {
      throw fromNative(e, 'usage')
    }
    return text === null ? this.#take([]) : this.#take(fromJson(text))
  }

  /** The state's name (`"acquiring"`, `"held"`, ...). */
  get state() {
    return this.#native.state
  }

  /** The lease (`null` before acquisition, or for machines without a `lease` getter). */
  get lease() {
    return this.#native.views.includes('lease') ? this.view('lease') : null
  }

  /** The lock (`null` before acquisition, or for machines without a `lock` getter). */
  get lock() {
    return this.#native.views.includes('lock') ? this.view('lock') : null
  }

  /** The observed leader (etcd observer; `null` before the first read or without a leader). */
  get leader() {
    return this.#native.views.includes('leader') ? this.view('leader') : null
  }

  /** Names of this machine's getters besides `state` (`["lease"]` for Redlock). @returns {string[]} */
  get views() {
    return this.#native.views
  }

  /**
   * The getter named `name` (one of `views`), in the vectors' JSON form.
   * @param {string} name
   */
  view(name) {
    if (typeof name !== 'string') throw new InvalidInputError('view name must be a string')
    try {
      return fromJson(this.#native.viewJson(name))
    } catch (e) {
      throw fromNative(e, 'usage')
    }
  }
}

/** The Redlock machine: `new RedlockMachine(config, init)` as in `vectors/redlock`. */
class RedlockMachine extends Machine {
  /**
   * @param {object} config
   * @param {object} init
   */
  constructor(config, init) {
    super('redlock', config, init)
  }
}

/**
 * Builds any machine by name (what a vector's `machine` field says).
 * @param {string} machine
 * @param {object} config
 * @param {object} init
 */
function createMachine(machine, config, init) {
  return new Machine(machine, config, init)
}

/** Names of the machines this build exposes. */
function machineNames() {
  return native.machineNames()
}

/**
 * Checks a machine's config object without building a machine.
 * @param {string} machine
 * @param {object} config
 */
function checkConfig(machine, config) {
  if (typeof machine !== 'string') throw new InvalidInputError('machine must be a string')
  requireObject(config, 'config')
  const json = toJson(config, 'config')
  try {
    native.checkConfig(machine, json)
  } catch (e) {
    throw fromNative(e, 'config')
  }
}

/**
 * A lock value (version 4 UUID) from 16 bytes of a CSPRNG, as the core formats it.
 * @param {Uint8Array} bytes exactly 16 bytes
 */
function lockValueFromRandom(bytes) {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 16) {
    throw new InvalidInputError('lockValueFromRandom needs a Uint8Array of exactly 16 bytes')
  }
  try {
    return native.lockValueFromRandom(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
  } catch (e) {
    throw fromNative(e, 'usage')
  }
}

/** The Redlock scripts with their SHA1, byte for byte as the core defines them. */
function redlockScripts() {
  return native.redlockScripts()
}

/**
 * Bytes of a response body or watch line: a string (UTF-8) or bytes.
 * @param {unknown} body
 * @param {string} what
 * @returns {Buffer}
 */
function bodyBytes(body, what) {
  if (typeof body === 'string') return Buffer.from(body, 'utf8')
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  if (body instanceof ArrayBuffer) return Buffer.from(body)
  throw new InvalidInputError(`${what} must be a string, a Uint8Array or an ArrayBuffer, got ${describe(body)}`)
}

/**
 * The etcd JSON-gateway request for an etcd command (the vocabulary's object):
 * `{path, body}` (`body` is JSON text), or `null` for `cancel_watch` (abort the
 * watch's request instead). Encoded by the core's codec.
 * @param {object} command
 * @returns {{path: string, body: string} | null}
 */
function gatewayEncode(command) {
  requireObject(command, 'command')
  const json = toJson(command, 'command')
  try {
    const text = native.gatewayEncode(json)
    return text === null ? null : JSON.parse(text)
  } catch (e) {
    throw fromNative(e, 'wire')
  }
}

/**
 * Decodes an etcd JSON-gateway response body (any HTTP status) for `command`
 * into the machine's reply (the vocabulary's object). A malformed body throws a
 * WireError (`ETCD_GATEWAY_JSON`, `ETCD_GATEWAY_FIELD`).
 * @param {object} command
 * @param {string | Uint8Array | ArrayBuffer} body
 */
function gatewayDecode(command, body) {
  requireObject(command, 'command')
  const json = toJson(command, 'command')
  const bytes = bodyBytes(body, 'body')
  try {
    return fromJson(native.gatewayDecode(json, bytes))
  } catch (e) {
    throw fromNative(e, 'wire')
  }
}

/**
 * Decodes one line of an etcd watch stream: the reply, or `null` for a line
 * that does not answer the watch (`created`, progress). Throws like `gatewayDecode`.
 * @param {string | Uint8Array | ArrayBuffer} line
 */
function gatewayDecodeWatchLine(line) {
  const bytes = bodyBytes(line, 'line')
  try {
    const text = native.gatewayDecodeWatchLine(bytes)
    return text === null ? null : fromJson(text)
  } catch (e) {
    throw fromNative(e, 'wire')
  }
}

/** An etcd lease mutex (`etcd_mutex`). */
class EtcdMutexMachine extends Machine {
  /**
   * @param {object} config
   * @param {object} init
   */
  constructor(config, init) {
    super('etcd_mutex', config, init)
  }
}

/** An etcd election campaign (`etcd_election`). */
class EtcdElectionMachine extends Machine {
  /**
   * @param {object} config
   * @param {object} init
   */
  constructor(config, init) {
    super('etcd_election', config, init)
  }
}

/** An etcd leader observer (`etcd_observer`). */
class EtcdObserverMachine extends Machine {
  /**
   * @param {object} config
   * @param {object} init
   */
  constructor(config, init) {
    super('etcd_observer', config, init)
  }
}

/** A ZooKeeper lock (`zookeeper_lock`). */
class ZooKeeperLockMachine extends Machine {
  /**
   * @param {object} config
   * @param {object} init
   */
  constructor(config, init) {
    super('zookeeper_lock', config, init)
  }
}

/** A ZooKeeper election (`zookeeper_election`). */
class ZooKeeperElectionMachine extends Machine {
  /**
   * @param {object} config
   * @param {object} init
   */
  constructor(config, init) {
    super('zookeeper_election', config, init)
  }
}

/** A PostgreSQL advisory lock (`advisory_lock`). */
class AdvisoryLockMachine extends Machine {
  /**
   * @param {object} config
   * @param {object} init
   */
  constructor(config, init) {
    super('advisory_lock', config, init)
  }
}

module.exports = {
  Machine,
  RedlockMachine,
  EtcdMutexMachine,
  EtcdElectionMachine,
  EtcdObserverMachine,
  ZooKeeperLockMachine,
  ZooKeeperElectionMachine,
  AdvisoryLockMachine,
  gatewayEncode,
  gatewayDecode,
  gatewayDecodeWatchLine,
  requireObject,
  createMachine,
  machineNames,
  checkConfig,
  lockValueFromRandom,
  redlockScripts,
  describe,
  toJson,
  fromJson,
}
