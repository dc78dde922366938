// The module behind one object: every call into WebAssembly goes through
// `call`, which refuses to run before the module is loaded, maps thrown codes
// to typed errors, and turns a trap (a bug: the module must never trap on any
// input) into an InternalError, after which the instance is not used again.
import { fromWasm, InternalError, InvalidInputError, UsageError } from './errors.js'
import { describe, fromJson, requireObject, toJson } from './json.js'

/**
 * @typedef {typeof import('../pkg/nodejs/fencelock_wasm.js')} Glue
 * @typedef {InstanceType<Glue['WasmMachine']>} WasmMachine
 */

/**
 * @param {Glue} glue the wasm-bindgen glue (web or nodejs target)
 * @param {() => boolean} loaded whether the WebAssembly instance is ready
 */
export function createCore(glue, loaded) {
  /** @type {unknown} */
  let trapped = null

  /**
   * @template T
   * @param {'config' | 'usage' | 'wire'} kind
   * @param {() => T} fn
   * @returns {T}
   */
  function call(kind, fn) {
    if (trapped !== null) throw new InternalError('the WebAssembly instance trapped earlier and is no longer used', { cause: trapped })
    if (!loaded()) {
      throw new UsageError('NOT_INITIALIZED', 'the WebAssembly module is not loaded yet: await init() (or call initSync({ module })) first')
    }
    try {
      return fn()
    } catch (e) {
      if (typeof WebAssembly !== 'undefined' && e instanceof WebAssembly.RuntimeError) trapped = e
      throw fromWasm(e, kind)
    }
  }

  /** @type {Record<string, {name: string, sha1: string, source: string}> | null} */
  let scripts = null
  function scriptTable() {
    if (scripts === null) {
      const list = /** @type {{name: string, sha1: string, source: string}[]} */ (fromJson(call('wire', () => glue.scripts())))
      scripts = Object.fromEntries(list.map((s) => [s.name, s]))
    }
    return scripts
  }

  /** Shared empty result (frozen). */
  const NONE = /** @type {any[]} */ (/** @type {unknown} */ (Object.freeze([])))

  /**
   * A core state machine, chosen by name, built from a vector's `config` and
   * `init` objects. Drive it like the core: after every input drain the
   * outputs, then arm one timer for `pollTimeout()`.
   */
  class Machine {
    /** @type {WasmMachine} */
    #wasm
    /** Outputs of `handleInput` not yet taken by `pollOutput`. @type {any[]} */
    #pending = []

    /**
     * @param {string} machine a name from `machineNames()`
     * @param {object} config the vector's `config`
     * @param {object} init the vector's `init`
     */
    constructor(machine, config, init) {
      if (typeof machine !== 'string') throw new InvalidInputError(`machine must be a string, got ${describe(machine)}`)
      requireObject(config, 'config')
      requireObject(init, 'init')
      const configJson = toJson(config, 'config')
      const initJson = toJson(init, 'init')
      this.#wasm = call('config', () => new glue.WasmMachine(machine, configJson, initJson))
    }

    /** The machine's name (`"redlock"`, `"etcd_mutex"`, ...). @returns {string} */
    get machine() {
      return call('usage', () => this.#wasm.machine)
    }

    /**
     * Applies one input; on error the machine is unchanged and emits nothing.
     * @param {object} input
     */
    handleInput(input) {
      const outputs = this.step(input)
      this.#pending = outputs
    }

    /** The next output, or `null` once drained. */
    pollOutput() {
      if (this.#pending.length > 0) return this.#pending.shift()
      const text = call('usage', () => this.#wasm.pollOutput())
      return text === undefined ? null : fromJson(text)
    }

    /** When to deliver the next `timeout` input (ms), or `null`. @returns {number | null} */
    pollTimeout() {
      const t = call('usage', () => this.#wasm.pollTimeout())
      return t < 0 ? null : t
    }

    /**
     * Applies one input and drains every output, in one call.
     * @param {object} input
     * @returns {any[]}
     */
    step(input) {
      requireObject(input, 'input')
      const json = toJson(input, 'input')
      const text = call('usage', () => this.#wasm.step(json))
      return this.#take(text === undefined ? NONE : fromJson(text))
    }

    /** Every queued output (e.g. the first commands after construction). @returns {any[]} */
    drain() {
      const text = call('usage', () => this.#wasm.drain())
      return this.#take(text === undefined ? NONE : fromJson(text))
    }

    /** @param {any[]} outputs */
    #take(outputs) {
      if (this.#pending.length === 0) return outputs === NONE ? [] : outputs
      const all = [...this.#pending, ...outputs]
      this.#pending = []
      return all
    }

    /** The state's name (`"acquiring"`, `"held"`, ...). @returns {string} */
    get state() {
      return call('usage', () => this.#wasm.state)
    }

    /**
     * A getter by name: `lease` (redlock), `lock` (etcd mutex, election),
     * `leader` (etcd observer); `undefined` if this machine has no such getter.
     * @param {string} key
     */
    view(key) {
      const text = call('usage', () => this.#wasm.view(key))
      return text === undefined ? undefined : fromJson(text)
    }

    /** The lease (`null` before acquisition; an etcd machine's `lock`). */
    get lease() {
      return this.view('lease') ?? this.view('lock') ?? null
    }

    /** etcd mutex and election: the lock (`null` before acquisition). */
    get lock() {
      return this.view('lock') ?? null
    }

    /** etcd observer: the last leader reported (`null` before the first read). */
    get leader() {
      const leader = this.view('leader')
      return leader === undefined ? null : leader
    }
  }

  /** The Redlock machine: `new RedlockMachine(config, init)` as in `vectors/redlock`. */
  class RedlockMachine extends Machine {
    /** @param {object} config @param {object} init */
    constructor(config, init) {
      super('redlock', config, init)
    }
  }

  /** The etcd lease mutex: `new EtcdMutexMachine(config, init)` as in `vectors/etcd`. */
  class EtcdMutexMachine extends Machine {
    /** @param {object} config @param {object} init */
    constructor(config, init) {
      super('etcd_mutex', config, init)
    }
  }

  /** The etcd election: `new EtcdElectionMachine(config, init)`. */
  class EtcdElectionMachine extends Machine {
    /** @param {object} config @param {object} init */
    constructor(config, init) {
      super('etcd_election', config, init)
    }
  }

  /** The etcd leader observer: `new EtcdObserverMachine(config, init)`. */
  class EtcdObserverMachine extends Machine {
    /** @param {object} config @param {object} init */
    constructor(config, init) {
      super('etcd_observer', config, init)
    }
  }

  /** The ZooKeeper lock recipe: `new ZooKeeperLockMachine(config, init)` as in `vectors/zookeeper`. */
  class ZooKeeperLockMachine extends Machine {
    /** @param {object} config @param {object} init */
    constructor(config, init) {
      super('zookeeper_lock', config, init)
    }
  }

  /** The ZooKeeper election recipe. */
  class ZooKeeperElectionMachine extends Machine {
    /** @param {object} config @param {object} init */
    constructor(config, init) {
      super('zookeeper_election', config, init)
    }
  }

  /** The PostgreSQL advisory lock. */
  class AdvisoryLockMachine extends Machine {
    /** @param {object} config @param {object} init */
    constructor(config, init) {
      super('advisory_lock', config, init)
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

  /** Names of the machines this build exposes. @returns {string[]} */
  function machineNames() {
    return call('usage', () => glue.machineNames())
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
    call('config', () => glue.checkConfig(machine, json))
  }

  /**
   * A lock value (version 4 UUID) from 16 bytes of a CSPRNG, as the core formats it.
   * @param {Uint8Array} bytes exactly 16 bytes
   * @returns {string}
   */
  function lockValueFromRandom(bytes) {
    if (!(bytes instanceof Uint8Array) || bytes.length !== 16) {
      throw new InvalidInputError('lockValueFromRandom needs a Uint8Array of exactly 16 bytes')
    }
    return call('usage', () => glue.lockValueFromRandom(bytes))
  }

  /** The Redlock scripts with their SHA1, byte for byte as the core defines them (and `fenced_set`). */
  function redlockScripts() {
    return Object.values(scriptTable()).map((s) => ({ ...s }))
  }

  // ----- the etcd JSON-gateway codec ------------------------------------------------

  /**
   * The gateway request for an etcd command (vocabulary object): `{path, body}`
   * with `body` as JSON text, or `null` for `cancel_watch`.
   * @param {object} command
   * @returns {{path: string, body: string} | null}
   */
  function gatewayEncode(command) {
    requireObject(command, 'command')
    const json = toJson(command, 'command')
    const text = call('wire', () => glue.gatewayEncode(json))
    return text === undefined ? null : fromJson(text)
  }

  /**
   * Decodes a gateway response body for `command` into the reply vocabulary;
   * throws FencelockError `ETCD_GATEWAY_JSON` / `ETCD_GATEWAY_FIELD`.
   * @param {object} command
   * @param {string | Uint8Array} body
   */
  function gatewayDecode(command, body) {
    requireObject(command, 'command')
    const json = toJson(command, 'command')
    const bytes = bodyBytes(body)
    return fromJson(call('wire', () => glue.gatewayDecode(json, bytes)))
  }

  /**
   * Decodes one watch-stream line: the reply, or `null` when the line does not
   * answer the watch; throws like `gatewayDecode`.
   * @param {string | Uint8Array} line
   */
  function gatewayDecodeWatchLine(line) {
    const bytes = bodyBytes(line)
    const text = call('wire', () => glue.gatewayDecodeWatchLine(bytes))
    return text === undefined ? null : fromJson(text)
  }

  const encoder = new TextEncoder()
  /** @param {unknown} body @returns {Uint8Array} */
  function bodyBytes(body) {
    if (typeof body === 'string') return encoder.encode(body)
    if (body instanceof Uint8Array) return body
    throw new InvalidInputError(`a body must be a string or a Uint8Array, got ${describe(body)}`)
  }

  // ----- fencing ---------------------------------------------------------------------

  /** In-memory guard: admits a token at least as high as the highest admitted. */
  class FenceGuard {
    /** @type {InstanceType<Glue['FenceGuard']>} */
    #wasm
    /** @param {number | bigint | null} [highest] */
    constructor(highest) {
      const h = highest === undefined || highest === null ? undefined : tokenText('highest', highest)
      this.#wasm = call('usage', () => new glue.FenceGuard(h))
    }

    /**
     * @param {number | bigint} token
     * @returns {{accepted: true} | {accepted: false, highest: number | bigint}}
     */
    admit(token) {
      const t = tokenText('token', token)
      const highest = call('usage', () => this.#wasm.admit(t))
      return highest === undefined ? { accepted: true } : { accepted: false, highest: tokenValue(highest) }
    }

    /** @returns {number | bigint | null} */
    get highest() {
      const h = call('usage', () => this.#wasm.highest)
      return h === undefined ? null : tokenValue(h)
    }
  }

  /**
   * @param {string} what
   * @param {unknown} token
   */
  function tokenText(what, token) {
    if (typeof token === 'bigint' && token >= 0n) return token.toString()
    if (typeof token === 'number' && Number.isSafeInteger(token) && token >= 0) return String(token)
    throw new InvalidInputError(`${what} must be a non-negative safe integer or BigInt, got ${describe(token)}`)
  }

  /** @param {string} digits */
  function tokenValue(digits) {
    const n = Number(digits)
    return Number.isSafeInteger(n) ? n : BigInt(digits)
  }

  /**
   * `UPDATE <table> SET ... WHERE <key> = $N+1 AND <fence> <= $N`; throws
   * InvalidInputError (`INVALID_IDENTIFIER`) for an identifier that is not plain.
   * @param {string} table
   * @param {string[]} columns
   * @param {string} fenceColumn
   * @param {string} keyColumn
   */
  function fencedUpdateSql(table, columns, fenceColumn, keyColumn) {
    for (const [what, v] of [['table', table], ['fenceColumn', fenceColumn], ['keyColumn', keyColumn]]) {
      if (typeof v !== 'string') throw new InvalidInputError(`${what} must be a string, got ${describe(v)}`)
    }
    if (!Array.isArray(columns) || !columns.every((c) => typeof c === 'string')) {
      throw new InvalidInputError('columns must be an array of strings')
    }
    return call('usage', () => glue.fencedUpdateSql(table, columns, fenceColumn, keyColumn))
  }

  return {
    glue,
    call,
    scriptTable,
    api: {
      Machine,
      RedlockMachine,
      EtcdMutexMachine,
      EtcdElectionMachine,
      EtcdObserverMachine,
      ZooKeeperLockMachine,
      ZooKeeperElectionMachine,
      AdvisoryLockMachine,
      createMachine,
      machineNames,
      checkConfig,
      lockValueFromRandom,
      redlockScripts,
      gatewayEncode,
      gatewayDecode,
      gatewayDecodeWatchLine,
      FenceGuard,
      fencedUpdateSql,
    },
  }
}

/** @typedef {ReturnType<typeof createCore>} Core */
