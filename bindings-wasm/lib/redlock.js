// High level: Redlock over a host transport, `send(node, command) =>
// Promise<reply>` (a RESP socket transport from ./resp.js, or any Redis
// client). This file converts values and runs the drive loop (send each
// command, feed each reply and timer back, read outcomes from the machine's
// events); every lock decision is the core's.
import { InternalError, InvalidInputError, LockLostError, LockNotAcquiredError, UsageError } from './errors.js'
import {
  asyncDispose,
  boolean,
  camel,
  camelKey,
  clock,
  driftPpm,
  Events,
  integer,
  optionsObject,
  randomBytes,
  randomSeed,
  retryConfig,
  seedText,
  Timer,
} from './host.js'
import { describe, fromJson, toJson } from './json.js'

const KINDS = ['timeout', 'connection', 'server', 'protocol']

/**
 * What a host's `send` resolved with, as the core's reply vocabulary. A
 * vocabulary object (`{type: "int", value}`, ...) passes as is; plain values
 * are accepted too: a safe integer or BigInt (int), `null` / `undefined`
 * (nil), a string (text), an array (array). Anything else is a `protocol`
 * error reply for the machine: garbage never reaches it as a value.
 * @param {unknown} value
 * @param {number} depth
 * @returns {any}
 */
export function toNodeReply(value, depth = 0) {
  const garbage = (/** @type {string} */ why) => ({ type: 'error', kind: 'protocol', message: `send resolved ${why}` })
  if (depth > 32) return garbage('an array nested too deeply')
  if (value === null || value === undefined) return { type: 'nil' }
  switch (typeof value) {
    case 'number':
      return Number.isSafeInteger(value) ? { type: 'int', value } : garbage(`the number ${value}`)
    case 'bigint':
      return value >= -(2n ** 63n) && value < 2n ** 63n ? { type: 'int', value } : garbage('a BigInt beyond 64 bits')
    case 'string':
      return { type: 'text', value }
    case 'object':
      break
    default:
      return garbage(`a ${typeof value}`)
  }
  if (Array.isArray(value)) {
    const items = []
    for (const item of value) {
      const reply = toNodeReply(item, depth + 1)
      if (reply.type === 'error' && reply.kind === 'protocol') return reply
      items.push(reply)
    }
    return { type: 'array', items }
  }
  const v = /** @type {Record<string, unknown>} */ (value)
  switch (v.type) {
    case 'int':
      return toNodeReply(v.value, depth + 1).type === 'int' ? { type: 'int', value: v.value } : garbage('an int reply without a safe integer value')
    case 'nil':
      return { type: 'nil' }
    case 'text':
      return typeof v.value === 'string' ? { type: 'text', value: v.value } : garbage('a text reply without a string value')
    case 'array':
      return Array.isArray(v.items) ? toNodeReply(v.items, depth) : garbage('an array reply without items')
    case 'error':
      return typeof v.kind === 'string' && KINDS.includes(v.kind)
        ? { type: 'error', kind: v.kind, message: typeof v.message === 'string' ? v.message : '' }
        : garbage('an error reply with an unknown kind')
    default:
      return garbage(`an object that is not a reply (${describe(v.type)} type)`)
  }
}

/**
 * What a host's `send` rejected (or threw) with, as an error reply. An error
 * with a `kind` of `timeout`, `connection`, `server` or `protocol` keeps it;
 * anything else is a `connection` failure.
 * @param {unknown} e
 */
export function failureReply(e) {
  const kind = typeof (/** @type {any} */ (e)?.kind) === 'string' && KINDS.includes(/** @type {any} */ (e).kind) ? /** @type {any} */ (e).kind : 'connection'
  const message = e instanceof Error ? e.message : typeof e === 'string' ? e : `send failed with ${describe(e)}`
  return { type: 'error', kind, message }
}

/**
 * @param {import('./core.js').Core} core
 */
export function createRedlock(core) {
  const { call, glue } = core

  /**
   * Drives one machine with the transport: sends every command (per node in
   * emission order; different nodes concurrently), feeds replies and timer
   * expiries back, and settles the operation a caller waits for when the
   * machine's events say so. Replies reach only the machine that sent the
   * command (each driver owns its machine for life).
   */
  class Driver {
    /**
     * @param {import('./core.js').WasmMachine} machine
     * @param {{nodes: number, send: (node: number, command: any) => unknown}} transport
     * @param {string[]} resources
     * @param {(type: string, event: any, resources: string[]) => void} notify
     */
    constructor(machine, transport, resources, notify) {
      this.machine = machine
      this.transport = transport
      this.resources = resources
      this.notify = notify
      /** Per node: the last command's promise while one is outstanding. @type {(Promise<void> | undefined)[]} */
      this.tails = new Array(transport.nodes)
      /** Per node: outstanding commands. */
      this.outstanding = new Array(transport.nodes).fill(0)
      this.timer = new Timer(() => this.feed(() => this.machine.driveTimeout(clock())))
      /** @type {import('./host.js').Waiter | null} */
      this.acquireWaiter = null
      /** @type {import('./host.js').Waiter[]} */
      this.extendWaiters = []
      /** @type {import('./host.js').Waiter | null} */
      this.releaseWaiter = null
      /** @type {AbortController | null} */
      this.controller = null
      /** @type {LockLostError | null} */
      this.lost = null
      /** @type {any} */
      this.lease = null
      /** @type {any} */
      this.stats = null
      /** @type {unknown} */
      this.cancelCause = undefined
      this.done = false
      /** @type {any[]} */
      this.reports = []
    }

    busy() {
      return this.acquireWaiter !== null || this.extendWaiters.length > 0 || this.releaseWaiter !== null
    }

    /**
     * Applies an input the caller asked for (JSON text); throws the machine's
     * typed error (the machine is then unchanged).
     * @param {string} json
     */
    input(json) {
      this.drive(call('usage', () => this.machine.drive(json)))
    }

    /**
     * Applies an input the host produced (a reply, a timer). The machine
     * refusing it is a bug: every waiter gets an InternalError.
     * @param {() => number | string} fn
     */
    feed(fn) {
      /** @type {number | string} */
      let result
      try {
        result = call('usage', fn)
      } catch (e) {
        const error = e instanceof InternalError ? e : new InternalError(`host bug: ${/** @type {Error} */ (e).message}`, { cause: e })
        this.failAll(error)
        return
      }
      this.drive(result)
    }

    /**
     * @param {number} req
     * @param {number} node
     * @param {any} result a reply in the core's vocabulary
     */
    reply(req, node, result) {
      if (this.done) return
      const machine = this.machine
      if (result.type === 'int' && typeof result.value === 'number') {
        const value = result.value
        this.feed(() => machine.driveReplyInt(clock(), req, node, value))
      } else {
        /** @type {string} */
        let json
        try {
          json = toJson({ type: 'reply', now: clock(), req, node, result }, 'reply')
        } catch (e) {
          json = toJson({ type: 'reply', now: clock(), req, node, result: failureReply(e) }, 'reply')
        }
        this.feed(() => machine.drive(json))
      }
    }

    /** @param {number | string} result */
    drive(result) {
      if (typeof result === 'number') {
        this.timer.arm(result < 0 ? null : result, this.busy())
        return
      }
      // [timeout, tables, item...]: an eval command is [req, node, script, keys, args]
      // (indexes into tables); any other output is its vocabulary object.
      const outputs = fromJson(result)
      const tables = outputs[1]
      for (let i = 2; i < outputs.length; i++) {
        const output = outputs[i]
        if (Array.isArray(output)) this.send(output[0], output[1], output[2], tables[output[3]], tables[output[4]])
        else if (output.event !== undefined) this.onEvent(output.event)
        else this.failAll(new InternalError(`cannot perform output ${JSON.stringify(output)}`))
      }
      this.timer.arm(outputs[0] === null ? null : Number(outputs[0]), this.busy())
      if (this.busy() && this.timer.at === null) {
        this.failAll(new InternalError(`machine stalled in state ${this.machine.state}`))
      }
      if (this.reports.length > 0) {
        const reports = this.reports
        this.reports = []
        for (const event of reports) this.notify(event.type, event, this.resources)
      }
    }

    /**
     * Runs `script` on `node` (per node in emission order) and feeds the reply back.
     * @param {number} req
     * @param {number} node
     * @param {string} scriptName
     * @param {string[]} keys
     * @param {string[]} args
     */
    send(req, node, scriptName, keys, args) {
      const script = core.scriptTable()[scriptName]
      if (script === undefined || node >= this.transport.nodes) {
        this.failAll(new InternalError(`cannot run script ${scriptName} on node ${node}`))
        return
      }
      const command = { type: 'eval', req, node, script: scriptName, keys, args, sha1: script.sha1, source: script.source }
      const run = () =>
        new Promise((resolve) => resolve(this.transport.send(node, command))).then(
          (value) => this.reply(req, node, toNodeReply(value)),
          (e) => this.reply(req, node, failureReply(e))
        )
      const previous = this.tails[node]
      const done = (previous === undefined ? run() : previous.then(run)).then(() => {
        if (--this.outstanding[node] === 0) this.tails[node] = undefined
      })
      this.outstanding[node]++
      this.tails[node] = done
    }

    /** @param {any} event */
    onEvent(event) {
      switch (event.type) {
        case 'acquired': {
          this.lease = event.lease
          this.stats = event.stats
          const waiter = this.acquireWaiter
          this.acquireWaiter = null
          waiter?.resolve(undefined)
          break
        }
        case 'acquire_failed': {
          this.done = true
          const waiter = this.acquireWaiter
          this.acquireWaiter = null
          const options = this.cancelCause === undefined ? undefined : { cause: this.cancelCause }
          waiter?.reject(new LockNotAcquiredError(this.resources, event.reason, camel(event.stats), options))
          break
        }
        case 'extended':
          if (this.lease !== null) this.lease = { ...this.lease, valid_until: event.valid_until }
          this.settleExtends((w) => w.resolve(true))
          break
        case 'extend_failed':
          this.settleExtends((w) => w.resolve(false))
          break
        case 'lost': {
          const error = new LockLostError(this.lease?.resources ?? this.resources, event.reason, event.held_for)
          this.lost = error
          this.settleExtends((w) => w.reject(error))
          this.controller?.abort(error)
          break
        }
        case 'released': {
          this.done = true
          const waiter = this.releaseWaiter
          this.releaseWaiter = null
          if (this.extendWaiters.length > 0) {
            const error = new UsageError('INVALID_STATE', 'the lease was released while an extension was in flight')
            this.settleExtends((w) => w.reject(error))
          }
          waiter?.resolve(event.outcome)
          break
        }
        default:
          break
      }
      this.reports.push(event)
    }

    /** @param {(w: import('./host.js').Waiter) => void} how */
    settleExtends(how) {
      const waiters = this.extendWaiters
      this.extendWaiters = []
      for (const w of waiters) how(w)
    }

    /** @param {Error} error */
    failAll(error) {
      const waiters = [this.acquireWaiter, ...this.extendWaiters, this.releaseWaiter]
      this.acquireWaiter = null
      this.extendWaiters = []
      this.releaseWaiter = null
      for (const w of waiters) w?.reject(error)
    }

    /**
     * Runs the acquisition the machine started when it was built.
     * @param {AbortSignal | undefined} signal
     * @returns {Promise<void>}
     */
    acquire(signal) {
      return new Promise((resolve, reject) => {
        /** @type {(() => void) | null} */
        let onAbort = null
        const finish = () => {
          if (onAbort !== null) signal?.removeEventListener('abort', onAbort)
        }
        this.acquireWaiter = {
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
            if (this.acquireWaiter === null) return
            this.cancelCause = signal.reason
            // Release while acquiring cancels: the machine answers acquire_failed(cancelled).
            this.feed(() => this.machine.drive(`{"type":"release","now":${clock()}}`))
          }
          signal.addEventListener('abort', onAbort, { once: true })
        }
        this.feed(() => this.machine.driveDrain())
      })
    }
  }

  /**
   * A held Redlock lease. `signal` aborts (with a LockLostError) when the lease
   * is lost; `await using` releases it at the end of the scope.
   */
  class Lease {
    /** @type {Driver} */
    #driver
    /** @type {Promise<string> | null} */
    #releasing = null

    /** @param {Driver} driver */
    constructor(driver) {
      this.#driver = driver
    }

    /** Locked resources, sorted. @returns {string[]} */
    get resources() {
      return [...this.#driver.lease.resources]
    }

    /** The lock value written on every master (a random UUID). @returns {string} */
    get value() {
      return this.#driver.lease.value
    }

    /** Fencing token for the protected resource (`null` with `fencing: false`). @returns {number | bigint | null} */
    get fencingToken() {
      return this.#driver.lease.fencing_token
    }

    /** When the lease was acquired, on the `performance.now()` ms clock. @returns {number} */
    get acquiredAt() {
      return Number(this.#driver.lease.acquired_at)
    }

    /** End of validity on the `performance.now()` ms clock (moves on with extensions). @returns {number} */
    get validUntil() {
      return Number(this.#driver.lease.valid_until)
    }

    /** Latency, attempts and contended attempts of the acquisition. */
    get stats() {
      const s = this.#driver.stats
      return { latency: s.latency, attempts: s.attempts, contended: s.contended }
    }

    /** Aborted, with a LockLostError as its reason, when the lease is lost. @returns {AbortSignal} */
    get signal() {
      const driver = this.#driver
      if (driver.controller === null) {
        driver.controller = new AbortController()
        if (driver.lost !== null) driver.controller.abort(driver.lost)
      }
      return driver.controller.signal
    }

    /** The machine's state: `held`, `extending`, `lost`, `releasing`, `released`. @returns {string} */
    get state() {
      return call('usage', () => this.#driver.machine.state)
    }

    /** Why the lease was lost (`expired`, `extension_failed`, `rejected`), or `null`. @returns {string | null} */
    get lostReason() {
      return this.#driver.lost?.reason ?? null
    }

    /** Milliseconds of validity left now (0 once expired, lost or released). @returns {number} */
    remaining() {
      return call('usage', () => this.#driver.machine.remaining(clock()))
    }

    /**
     * Extends the lease now on every master. Resolves `true` when a quorum
     * confirmed, `false` when the extension failed but the lease is still
     * valid. Rejects with a LockLostError once lost, a UsageError once released.
     * @returns {Promise<boolean>}
     */
    extend() {
      const driver = this.#driver
      return new Promise((resolve, reject) => {
        const waiter = { resolve, reject }
        driver.extendWaiters.push(waiter)
        try {
          driver.input(`{"type":"extend","now":${clock()}}`)
        } catch (e) {
          driver.extendWaiters = driver.extendWaiters.filter((w) => w !== waiter)
          if (e instanceof UsageError && e.code === 'LEASE_LOST' && driver.lost !== null) reject(driver.lost)
          else reject(e)
        }
      })
    }

    /**
     * Releases the lease on every master. Resolves with the outcome:
     * `released`, `already_expired`, `held_by_other` or `quorum_unreachable`
     * (releasing an expired or lost lease is not an error). Rejects with a
     * UsageError (`INVALID_STATE`) if the lease was already released.
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

    /** Releases the lease unless it was already released (for `await using`). */
    async [asyncDispose]() {
      if (this.#releasing !== null) {
        await this.#releasing
        return
      }
      const state = this.state
      if (state === 'released' || state === 'failed') return
      await this.release()
    }
  }

  const LOCK_OPTION_KEYS = ['ttl', 'driftFactor', 'nodeTimeout', 'retry', 'autoExtend', 'fencing', 'namespace', 'seed']
  const REDLOCK_OPTION_KEYS = [...LOCK_OPTION_KEYS, 'onEvent']
  const ACQUIRE_OPTION_KEYS = [...LOCK_OPTION_KEYS, 'timeout', 'signal']

  /**
   * Lock options (camelCase) as a partial core config (snake_case); the seed
   * separately (decimal digits).
   * @param {Record<string, unknown>} o
   */
  function configPart(o) {
    /** @type {Record<string, unknown>} */
    const out = {}
    if (o.ttl !== undefined) out.ttl = integer('ttl', o.ttl)
    if (o.driftFactor !== undefined) out.drift_ppm = driftPpm(o.driftFactor)
    if (o.nodeTimeout !== undefined) out.node_timeout = o.nodeTimeout === null ? null : integer('nodeTimeout', o.nodeTimeout)
    if (o.retry !== undefined) out.retry = retryConfig(o.retry)
    if (o.autoExtend !== undefined) out.auto_extend = boolean('autoExtend', o.autoExtend)
    if (o.fencing !== undefined) out.fencing = boolean('fencing', o.fencing)
    if (o.namespace !== undefined) {
      if (typeof o.namespace !== 'string') throw new InvalidInputError(`namespace must be a string, got ${describe(o.namespace)}`)
      out.namespace = o.namespace
    }
    return { part: out, seed: o.seed === undefined ? undefined : seedText(o.seed) }
  }

  /**
   * @param {unknown} resources
   * @returns {string[]}
   */
  function resourceList(resources) {
    const list = typeof resources === 'string' ? [resources] : resources
    if (!Array.isArray(list)) throw new InvalidInputError(`resources must be a string or an array of strings, got ${describe(resources)}`)
    list.forEach((r, i) => {
      if (typeof r !== 'string') throw new InvalidInputError(`resources[${i}] must be a string, got ${describe(r)}`)
    })
    return [...list]
  }

  /**
   * @param {unknown} transport
   * @returns {{nodes: number, send: (node: number, command: any) => unknown}}
   */
  function checkTransport(transport) {
    const t = /** @type {any} */ (transport)
    if (t === null || typeof t !== 'object' || typeof t.send !== 'function') {
      throw new InvalidInputError(`transport must be an object with nodes and send(node, command), got ${describe(transport)}`)
    }
    integer('transport.nodes', t.nodes)
    return t
  }

  /**
   * Redlock over N independent Redis masters, with fencing tokens, driven by a
   * host transport: `{nodes, send(node, command) => Promise<reply>}`.
   */
  class Redlock {
    /** @type {{nodes: number, send: (node: number, command: any) => unknown}} */
    #transport
    /** @type {Record<string, unknown>} */
    #base
    /** @type {string | undefined} */
    #seed
    /** @type {InstanceType<typeof glue.MachineTemplate>} */
    #template

    /**
     * @param {{nodes: number, send: (node: number, command: any) => unknown}} transport
     * @param {Record<string, unknown>} [options]
     */
    constructor(transport, options = {}) {
      this.#transport = checkTransport(transport)
      const o = optionsObject('options', options, REDLOCK_OPTION_KEYS)
      const { part, seed } = configPart(o)
      this.#base = { nodes: this.#transport.nodes, ttl: 10_000, ...part }
      this.#seed = seed
      /** Metrics and lifecycle events of every lease (camelCase types, and `event` for all). */
      this.events = new Events()
      if (o.onEvent !== undefined) {
        if (typeof o.onEvent !== 'function') throw new InvalidInputError('onEvent must be a function')
        this.events.on('event', /** @type {(payload: any) => void} */ (o.onEvent))
      }
      const baseJson = toJson(this.#base, 'options')
      this.#template = call('config', () => new glue.MachineTemplate('redlock', baseJson))
      /**
       * @param {string} type
       * @param {any} event
       * @param {string[]} resources
       */
      this.notify = (type, event, resources) => {
        const name = camelKey(type)
        if (this.events.listenerCount(name) === 0 && this.events.listenerCount('event') === 0) return
        const payload = { ...camel(event), type: name, resources }
        this.events.emit(name, payload)
        this.events.emit('event', payload)
      }
    }

    /** Number of masters. */
    get nodes() {
      return this.#transport.nodes
    }

    /**
     * Acquires `resources` (one name, or several locked together). Resolves
     * with the lease; rejects with LockNotAcquiredError when every attempt
     * failed, the `timeout` passed, or `signal` aborted; ConfigError /
     * InvalidInputError for bad arguments.
     * @param {string | string[]} resources
     * @param {Record<string, unknown>} [options]
     * @returns {Promise<Lease>}
     */
    async acquire(resources, options = {}) {
      const list = resourceList(resources)
      const o = optionsObject('acquire options', options, ACQUIRE_OPTION_KEYS)
      const signal = /** @type {AbortSignal | undefined} */ (o.signal)
      if (signal !== undefined && !(signal instanceof AbortSignal)) {
        throw new InvalidInputError(`signal must be an AbortSignal, got ${describe(signal)}`)
      }
      const timeout = o.timeout === undefined || o.timeout === null ? null : integer('timeout', o.timeout)
      signal?.throwIfAborted()
      const { part, seed } = configPart(o)
      const value = core.api.lockValueFromRandom(randomBytes(16))
      const initJson = `{"now":${clock()},"resources":${JSON.stringify(list)},"value":"${value}","timeout":${timeout}}`
      const jitterSeed = seed ?? this.#seed ?? randomSeed()
      /** @type {import('./core.js').WasmMachine} */
      let machine
      if (Object.keys(part).length === 0) {
        machine = call('config', () => this.#template.build(initJson, jitterSeed))
      } else {
        const configJson = toJson({ ...this.#base, ...part }, 'options')
        machine = call('config', () => new glue.MachineTemplate('redlock', configJson).build(initJson, jitterSeed))
      }
      const driver = new Driver(machine, this.#transport, list, this.notify)
      await driver.acquire(signal)
      return new Lease(driver)
    }

    /**
     * Runs `routine` while holding `resources`, extending the lease
     * automatically (unless `autoExtend: false`), then releases it. The
     * routine's own error is rethrown as is, never masked by the release.
     * @template T
     * @param {string | string[]} resources
     * @param {Record<string, unknown> | ((signal: AbortSignal, lease: Lease) => Promise<T>)} optionsOrRoutine
     * @param {(signal: AbortSignal, lease: Lease) => Promise<T>} [maybeRoutine]
     * @returns {Promise<T>}
     */
    async using(resources, optionsOrRoutine, maybeRoutine) {
      const [options, routine] = typeof optionsOrRoutine === 'function' ? [{}, optionsOrRoutine] : [optionsOrRoutine ?? {}, maybeRoutine]
      if (typeof routine !== 'function') throw new InvalidInputError('using() needs a routine: using(resources, [options], async (signal, lease) => ...)')
      const lease = await this.acquire(resources, { autoExtend: true, ...options })
      let result
      try {
        result = await routine(lease.signal, lease)
      } catch (error) {
        await lease.release().catch(() => {})
        throw error
      }
      await lease.release()
      return result
    }
  }

  return { Redlock, Lease }
}
