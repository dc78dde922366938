'use strict'
// High level: ZooKeeper lock and election (the ephemeral-sequential recipe,
// czxid fencing tokens) over a node-zookeeper-client session. Each machine
// command is one client call, made at once and in emission order on the same
// client; replies and watches go to the machine that asked; the client's state
// changes go to every live machine on it. Every lock decision is the core's.

const native = require('../native.js')
const { describe, toJson, lockValueFromRandom } = require('./machine.js')
const { InvalidInputError, fromNative } = require('./errors.js')
const {
  clock,
  random,
  randomSeed,
  integer,
  boolean,
  string,
  optionsObject,
  retryConfig,
  driftPpm,
  seedText,
  eventsOf,
  acquireOptions,
  usingLease,
} = require('./host.js')
const { SessionDriver, SessionLease } = require('./session.js')

// node-zookeeper-client's numbers (Exception codes, Event types, State codes).
const NO_NODE = -101
const NODE_EXISTS = -110
const CONNECTION_LOSS = -4
const SESSION_EXPIRED = -112
const OPERATION_TIMEOUT = -7
const EPHEMERAL_SEQUENTIAL = 3
const WATCH_EVENTS = /** @type {Record<number, string>} */ ({ 1: 'created', 2: 'deleted', 3: 'data_changed', 4: 'children_changed' })
const SYNC_CONNECTED = 3
const DISCONNECTED = 0
const EXPIRED = -122
/** The client's connection manager after close() (it reports no state change then). */
const CLOSED = -2

/**
 * An 8-byte big-endian id (session id, zxid) as decimal digits.
 * @param {unknown} bytes
 */
function decimal(bytes) {
  if (!Buffer.isBuffer(bytes) || bytes.length !== 8) throw new InvalidInputError('expected an 8-byte id from the client')
  return bytes.readBigUInt64BE(0).toString()
}

/**
 * What the client passed to a callback, as the machine's error.
 * @param {any} client
 * @param {any} error
 */
function errorResult(client, error) {
  const code = typeof error?.getCode === 'function' ? error.getCode() : error?.code
  const message = String(error?.message ?? error)
  switch (code) {
    case NO_NODE:
      return { type: 'error', kind: 'no_node', message }
    case NODE_EXISTS:
      return { type: 'error', kind: 'node_exists', message }
    case CONNECTION_LOSS:
      // After close() the client answers CONNECTION_LOSS too; closing ends the
      // session (and its nodes), which the core calls session_expired.
      return client.connectionManager?.state === CLOSED
        ? { type: 'error', kind: 'session_expired', message: `the client was closed: ${message}` }
        : { type: 'error', kind: 'connection', message }
    case SESSION_EXPIRED:
      return { type: 'error', kind: 'session_expired', message }
    case OPERATION_TIMEOUT:
      return { type: 'error', kind: 'timeout', message }
    default:
      return { type: 'error', kind: 'server', message }
  }
}

/**
 * @param {any} stat
 */
function statOf(stat) {
  return { czxid: decimal(stat.czxid), ephemeral_owner: decimal(stat.ephemeralOwner) }
}

/** Per client: the live drivers, and the one state listener that feeds them. @type {WeakMap<object, Set<SessionDriver>>} */
const sessions = new WeakMap()

/**
 * @param {any} client
 * @returns {Set<SessionDriver>}
 */
function driversOf(client) {
  let drivers = sessions.get(client)
  if (drivers === undefined) {
    const set = new Set()
    drivers = set
    sessions.set(client, set)
    client.on('state', (/** @type {any} */ state) => {
      const code = typeof state?.getCode === 'function' ? state.getCode() : state?.code
      /** @type {object | null} */
      let input = null
      if (code === DISCONNECTED) input = { type: 'disconnected' }
      else if (code === SYNC_CONNECTED) input = { type: 'connected', session: decimal(client.getSessionId()) }
      else if (code === EXPIRED) input = { type: 'session_expired' }
      if (input === null) return
      for (const driver of [...set]) driver.deliver({ ...input, now: clock() })
    })
  }
  return drivers
}

/**
 * The backend: one client call per command.
 * @param {any} client
 * @returns {import('./session.js').Backend}
 */
function backend(client) {
  return {
    run(driver, command) {
      const req = command.req
      /** @param {object} result */
      const reply = (result) => driver.reply(req, result)
      switch (command.type) {
        case 'create':
          client.create(command.path, Buffer.from(command.data, 'utf8'), EPHEMERAL_SEQUENTIAL, (/** @type {any} */ e, /** @type {string} */ path) =>
            reply(e ? errorResult(client, e) : { type: 'created', path, stat: null })
          )
          break
        case 'ensure_path':
          client.mkdirp(command.path, (/** @type {any} */ e) => reply(e ? errorResult(client, e) : { type: 'ok' }))
          break
        case 'get_children':
          client.getChildren(command.path, (/** @type {any} */ e, /** @type {string[]} */ children) =>
            reply(e ? errorResult(client, e) : { type: 'children', children })
          )
          break
        case 'get_data':
          client.getData(
            command.path,
            (/** @type {any} */ event) => {
              const type = typeof event?.getType === 'function' ? event.getType() : event?.type
              const kind = WATCH_EVENTS[type]
              // Session-type notifications are ignored: the state listener reports them.
              if (kind !== undefined) driver.watchFired(req, kind)
            },
            (/** @type {any} */ e, /** @type {unknown} */ _data, /** @type {any} */ stat) =>
              reply(e ? errorResult(client, e) : { type: 'stat', stat: statOf(stat) })
          )
          break
        case 'exists':
          client.exists(command.path, (/** @type {any} */ e, /** @type {any} */ stat) => {
            if (e) reply(errorResult(client, e))
            else if (stat === null || stat === undefined) reply({ type: 'error', kind: 'no_node', message: 'no node' })
            else reply({ type: 'stat', stat: statOf(stat) })
          })
          break
        case 'delete':
          client.remove(command.path, -1, (/** @type {any} */ e) => reply(e ? errorResult(client, e) : { type: 'ok' }))
          break
        default:
          throw new Error(`unknown command ${command.type}`)
      }
    },
    onEvent(driver, event) {
      if (event.type === 'acquire_failed' || event.type === 'released') driversOf(client).delete(driver)
    },
  }
}

/**
 * A held ZooKeeper lock (or won election). The token is the node's czxid as a
 * BigInt (zxids use all 64 bits).
 */
class ZooKeeperLease extends SessionLease {
  /** Fencing token: our node's czxid (strictly increasing between holders). @returns {bigint} */
  get fencingToken() {
    return BigInt(this.driver.lock.token)
  }

  /** Our node: `<path>/<guid>-lock-<sequence>`. @returns {string} */
  get node() {
    return this.driver.lock.path
  }

  /** The session that owns our node (decimal). @returns {string} */
  get session() {
    return this.driver.lock.session
  }

  /** End of validity (moves on with every server answer). @returns {number} */
  get validUntil() {
    return Number(this.driver.lock.valid_until)
  }

  /** Milliseconds of validity left now (0 unless held). @returns {number} */
  remaining() {
    if (this.state !== 'held') return 0
    return Math.max(0, this.validUntil - clock())
  }

  /** Election: `release()` under its usual name. */
  resign() {
    return this.release()
  }
}

const OPTION_KEYS = ['driftFactor', 'requestTimeout', 'recheck', 'retry', 'seed', 'onEvent']

/** What ZooKeeperLock and ZooKeeperElection share. */
class ZooKeeperBase {
  /** @type {any} */
  #client
  /** @type {InstanceType<typeof native.MachineTemplate>[]} */
  #templates
  /** @type {string | undefined} */
  #seed
  /** @type {(type: string, event: any, fields: Record<string, unknown>) => void} */
  #notify

  /**
   * @param {unknown} client a node-zookeeper-client client (connected, or connecting)
   * @param {Record<string, unknown>} [options]
   */
  constructor(client, options = {}) {
    const c = /** @type {any} */ (client)
    if (c === null || typeof c !== 'object' || typeof c.create !== 'function' || typeof c.getSessionId !== 'function' || typeof c.getChildren !== 'function') {
      throw new InvalidInputError(`client must be a node-zookeeper-client client (zookeeper.createClient(...)), got ${describe(client)}`)
    }
    this.#client = c
    const o = optionsObject('options', options, OPTION_KEYS)
    /** @type {Record<string, unknown>} */
    const config = {}
    if (o.driftFactor !== undefined) config.drift_ppm = driftPpm(o.driftFactor)
    if (o.requestTimeout !== undefined) config.request_timeout = o.requestTimeout === null ? null : integer('requestTimeout', o.requestTimeout)
    if (o.recheck !== undefined) config.recheck = o.recheck === null ? null : integer('recheck', o.recheck)
    if (o.retry !== undefined) config.retry = retryConfig(o.retry)
    this.#seed = o.seed === undefined ? undefined : seedText(o.seed)
    const { events, notify } = eventsOf(o.onEvent)
    /** Lifecycle events of every lock (camelCase types, and `event` for all). */
    this.events = events
    this.#notify = notify
    const json = toJson(config, 'options')
    try {
      this.#templates = [new native.MachineTemplate('zookeeper_lock', json), new native.MachineTemplate('zookeeper_election', json)]
    } catch (e) {
      throw fromNative(e, 'config')
    }
    driversOf(c)
  }

  /** The client. */
  get client() {
    return this.#client
  }

  /**
   * Waits until the client is connected (or `signal` aborts).
   * @param {AbortSignal | undefined} signal
   */
  async #connected(signal) {
    const client = this.#client
    if (client.getState()?.getCode?.() === SYNC_CONNECTED) return
    await new Promise((resolve, reject) => {
      const onConnected = () => {
        signal?.removeEventListener('abort', onAbort)
        resolve(undefined)
      }
      const onAbort = () => {
        client.removeListener('connected', onConnected)
        reject(signal?.reason)
      }
      client.once('connected', onConnected)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /**
   * Starts a machine in the client's session and waits for the outcome.
   * @param {0 | 1} kind 0: lock, 1: election
   * @param {unknown} path
   * @param {Record<string, unknown>} init
   * @param {AbortSignal | undefined} signal
   */
  async start(kind, path, init, signal) {
    const name = string('path', path)
    await this.#connected(signal)
    const client = this.#client
    const { buffer, offset } = random(16)
    const guid = lockValueFromRandom(buffer.subarray(offset, offset + 16))
    const full = { now: clock(), path: name, guid, session: decimal(client.getSessionId()), session_timeout: client.getSessionTimeout(), ...init }
    /** @type {any} */
    let machine
    try {
      machine = /** @type {InstanceType<typeof native.MachineTemplate>} */ (this.#templates[kind]).build(toJson(full, 'init'), this.#seed ?? randomSeed())
    } catch (e) {
      throw fromNative(e, 'config')
    }
    const driver = new SessionDriver(machine, backend(client), name, this.#notify)
    driversOf(client).add(driver)
    await driver.start(signal)
    return new ZooKeeperLease(driver)
  }
}

/** A ZooKeeper lock (ephemeral-sequential recipe; Curator's mutexes and ours exclude each other). */
class ZooKeeperLock extends ZooKeeperBase {
  /**
   * Locks `path` (the lock's parent node, created if missing). Rejects with
   * LockNotAcquiredError (`locked` for a try-lock, `deadline`, `cancelled`,
   * `attempts_exhausted`) or LockLostError (session lost while queued).
   * @param {string} path
   * @param {{timeout?: number | null, tryLock?: boolean, signal?: AbortSignal, value?: string}} [options]
   * @returns {Promise<ZooKeeperLease>}
   */
  async acquire(path, options = {}) {
    const { o, signal, timeout } = acquireOptions(options, ['timeout', 'tryLock', 'signal', 'value'])
    const tryLock = o.tryLock === undefined ? false : boolean('tryLock', o.tryLock)
    const value = o.value === undefined ? '' : string('value', o.value)
    return this.start(0, path, { timeout, try_lock: tryLock, value }, signal)
  }

  /**
   * Runs `routine` while holding `path`, then releases it.
   * @template T
   * @param {string} path
   * @param {{timeout?: number | null, signal?: AbortSignal} | ((signal: AbortSignal, lease: ZooKeeperLease) => Promise<T>)} optionsOrRoutine
   * @param {(signal: AbortSignal, lease: ZooKeeperLease) => Promise<T>} [maybeRoutine]
   * @returns {Promise<T>}
   */
  async using(path, optionsOrRoutine, maybeRoutine) {
    return usingLease(optionsOrRoutine, maybeRoutine, 'using(path, [options], async (signal, lease) => ...)', (options) => this.acquire(path, options))
  }
}

/** A ZooKeeper election: elected = our node is the lowest under the path and owned by our session. */
class ZooKeeperElection extends ZooKeeperBase {
  /**
   * Campaigns under `path` with `value` (our node's data); resolves once elected.
   * @param {string} path
   * @param {string} value
   * @param {{timeout?: number | null, signal?: AbortSignal}} [options]
   * @returns {Promise<ZooKeeperLease>}
   */
  async campaign(path, value, options = {}) {
    const { signal, timeout } = acquireOptions(options, ['timeout', 'signal'], 'campaign options')
    return this.start(1, path, { value: string('value', value), timeout }, signal)
  }
}

module.exports = { ZooKeeperLock, ZooKeeperElection, ZooKeeperLease }
