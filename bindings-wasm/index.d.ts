// Types of the `fencelock-wasm` package (the same API from `fencelock-wasm/web`
// and `fencelock-wasm/node`).
import type {
  AcquireFailure,
  EtcdConfig,
  EtcdElectionInit,
  EtcdInput,
  EtcdLeader,
  EtcdLockInfo,
  EtcdMutexInit,
  EtcdObserverInit,
  EtcdOutput,
  EtcdReply,
  Int,
  LostReason,
  NodeReply,
  RedlockConfig,
  RedlockInit,
  RedlockInput,
  RedlockLease,
  RedlockOutput,
  ReleaseOutcome,
  ScriptInfo,
  SendCommand,
} from './types.js'

export type * from './types.js'

// ----- loading -----------------------------------------------------------------------

/**
 * Loads the WebAssembly module (web build; a no-op in Node). Without an argument
 * it fetches the `.wasm` beside the glue; pass `{ module_or_path }` otherwise.
 */
export declare function init(input?: { module_or_path: WebAssembly.Module | BufferSource | URL | string | Response | Promise<Response> }): Promise<void>
/** Loads the WebAssembly module synchronously (workerd: the imported `.wasm` module). */
export declare function initSync(input: { module: WebAssembly.Module | BufferSource }): void

// ----- errors --------------------------------------------------------------------------

/** Every error fencelock throws. `code` is stable (conformance/errors.json); messages are not. */
export declare class FencelockError extends Error {
  constructor(code: string, message: string, options?: ErrorOptions)
  readonly code: string
}
/** A lock could not be configured: `NO_NODES`, `INVALID_TTL`, `TTL_TOO_SHORT`, `EMPTY_RESOURCE`, ... */
export declare class ConfigError extends FencelockError {}
/** A machine or lease was misused (`INVALID_STATE`, `NON_MONOTONIC_TIME`, ...), or the module is not loaded (`NOT_INITIALIZED`). */
export declare class UsageError extends FencelockError {}
/** A value of the wrong type, NaN, Infinity, negative or fractional where an integer is needed (`INVALID_INPUT`). */
export declare class InvalidInputError extends FencelockError {
  constructor(message: string, options?: ErrorOptions & { code?: string })
}
/** The acquisition ended without a lease. Code `LOCK_NOT_ACQUIRED`. */
export declare class LockNotAcquiredError extends FencelockError {
  readonly code: 'LOCK_NOT_ACQUIRED'
  readonly resources: string[]
  readonly reason: AcquireFailure
  readonly stats: Record<string, unknown>
}
/** The lease was lost: stop using the resource. The reason of `signal`. Code `LEASE_LOST`. */
export declare class LockLostError extends FencelockError {
  readonly code: 'LEASE_LOST'
  readonly resources: string[]
  readonly reason: LostReason
  readonly heldFor: number | null
}
/** A bug inside fencelock (a trap caught at the boundary, a stalled machine). Code `INTERNAL`. */
export declare class InternalError extends FencelockError {}

// ----- high level: Redlock -----------------------------------------------------------

/** Runs Redlock commands: `send` resolves with the node's reply (vocabulary object, or a plain value). */
export interface RedlockTransport {
  readonly nodes: number
  send(node: number, command: SendCommand): Promise<NodeReply | number | bigint | string | null | unknown[]> | unknown
}

export interface RetryOptions {
  maxAttempts?: number | null
  baseDelay?: number
  maxDelay?: number
  backoff?: 'exponential' | 'fixed'
  jitter?: number
}

export interface LockOptions {
  /** Key TTL on every master, integer ms. Default 10000. */
  ttl?: number
  /** Clock-drift allowance as a fraction of the TTL. Default 0.01. */
  driftFactor?: number
  nodeTimeout?: number | null
  retry?: RetryOptions
  autoExtend?: boolean
  fencing?: boolean
  namespace?: string
  /** Seed of the retry-jitter PRNG. Default: 64 bits from crypto.getRandomValues per lease. */
  seed?: number | bigint | string
}

export interface RedlockOptions extends LockOptions {
  onEvent?: (event: EventPayload) => void
}

export interface AcquireOptions extends LockOptions {
  timeout?: number | null
  signal?: AbortSignal
}

/** Payload of every event: the core's event with camelCase keys. */
export interface EventPayload {
  type: string
  [field: string]: unknown
}

/** A minimal emitter (every runtime): `on(type, fn)`, `off`, and `event` for all. */
export interface Events {
  on(name: string, listener: (payload: EventPayload) => void): this
  off(name: string, listener: (payload: EventPayload) => void): this
  listenerCount(name: string): number
}

/** A held lease (Redlock or etcd). Dispose of it (`await using`) or `release()` it. */
export interface HeldLease extends AsyncDisposable {
  readonly resources: string[]
  readonly fencingToken: Int | null
  readonly acquiredAt: number
  readonly validUntil: number
  readonly signal: AbortSignal
  readonly state: string
  readonly lostReason: LostReason | null
  remaining(): number
  extend(): Promise<boolean>
  release(): Promise<ReleaseOutcome>
}

/** A held Redlock lease (the Node binding's `Lease`). */
export declare class Lease implements HeldLease {
  private constructor()
  readonly resources: string[]
  readonly value: string
  readonly fencingToken: Int | null
  readonly acquiredAt: number
  readonly validUntil: number
  readonly stats: { latency: number; attempts: number; contended: number }
  readonly signal: AbortSignal
  readonly state: string
  readonly lostReason: LostReason | null
  remaining(): number
  extend(): Promise<boolean>
  release(): Promise<ReleaseOutcome>
  [Symbol.asyncDispose](): Promise<void>
}

/** Redlock over N independent Redis masters, with fencing tokens. */
export declare class Redlock {
  constructor(transport: RedlockTransport, options?: RedlockOptions)
  readonly nodes: number
  readonly events: Events
  acquire(resources: string | readonly string[], options?: AcquireOptions): Promise<Lease>
  using<T>(resources: string | readonly string[], routine: (signal: AbortSignal, lease: Lease) => Promise<T>): Promise<T>
  using<T>(resources: string | readonly string[], options: AcquireOptions, routine: (signal: AbortSignal, lease: Lease) => Promise<T>): Promise<T>
}

/** Opens one socket: gets data and end callbacks, resolves with write and close. */
export type Opener = (handlers: { data(bytes: Uint8Array): void; end(error: unknown): void }) => Promise<{ write(bytes: Uint8Array): unknown; close(): void }>

/** Openers over workerd's `connect()` from `cloudflare:sockets`. */
export declare function cloudflareSockets(connect: (address: { hostname: string; port: number }) => unknown, addresses: { hostname: string; port: number }[]): Opener[]
/** Openers over Node's `net`. */
export declare function nodeSockets(net: unknown, addresses: { hostname: string; port: number }[]): Opener[]

/** A Redlock transport speaking RESP2 (the core's codec) over one socket per master. */
export declare class RespTransport implements RedlockTransport {
  constructor(openers: Opener[], options?: { connectTimeout?: number })
  readonly nodes: number
  send(node: number, command: SendCommand): Promise<NodeReply>
  /** Any command (strings) on `node`, e.g. a fenced write; the reply in the core's vocabulary. */
  command(node: number, args: string[]): Promise<NodeReply>
  close(): void
}

/** What `send` resolved with, as the reply vocabulary (garbage becomes a `protocol` error). */
export declare function toNodeReply(value: unknown): NodeReply
/** What `send` threw, as an error reply. */
export declare function failureReply(error: unknown): NodeReply

// ----- high level: etcd ---------------------------------------------------------------

export interface GatewayOptions {
  /** Client URLs of the cluster's members, e.g. `http://127.0.0.1:2379`. */
  endpoints: string[]
  fetch?: typeof fetch
  headers?: Record<string, string>
}

export interface EtcdOptions {
  /** Lease TTL in seconds (etcd's unit). Default 10. */
  ttlSecs?: number
  driftFactor?: number
  requestTimeout?: number | null
  /** `poll` (default: edge runtimes cannot hold a stream) or `watch`. */
  wait?: 'poll' | 'watch'
  /** Poll interval, ms. Default 250. */
  pollInterval?: number
  /** Watch mode: re-read after this many ms without news. */
  recheck?: number | null
  retry?: RetryOptions
  seed?: number | bigint | string
  onEvent?: (event: EventPayload) => void
}

/** A held etcd lock or won election. */
export declare class EtcdLease implements HeldLease {
  private constructor()
  readonly resources: string[]
  /** `name/<lowercase hex lease id>`. */
  readonly key: string
  /** The etcd lease id, decimal. */
  readonly leaseId: string
  /** Our key's create revision. */
  readonly fencingToken: Int
  readonly acquiredAt: number
  readonly validUntil: number
  readonly stats: { latency: number; retries: number; queued: boolean }
  readonly signal: AbortSignal
  readonly state: string
  readonly lostReason: LostReason | null
  remaining(): number
  /** Keep-alives run by themselves: `true` while held. */
  extend(): Promise<boolean>
  /** Election: set the leader's value. */
  proclaim(value: string): Promise<boolean>
  release(): Promise<ReleaseOutcome>
  resign(): Promise<ReleaseOutcome>
  [Symbol.asyncDispose](): Promise<void>
}

/** An etcd lease mutex over the JSON gateway (Go `concurrency.Mutex` compatible). */
export declare class EtcdLock {
  constructor(gateway: GatewayOptions, options?: EtcdOptions)
  readonly events: Events
  acquire(name: string, options?: { timeout?: number | null; tryLock?: boolean; signal?: AbortSignal }): Promise<EtcdLease>
  using<T>(name: string, routine: (signal: AbortSignal, lease: EtcdLease) => Promise<T>): Promise<T>
}

/** An etcd election over the JSON gateway (Go `concurrency.Election` compatible). */
export declare class EtcdElection {
  constructor(gateway: GatewayOptions, options?: EtcdOptions)
  readonly events: Events
  campaign(name: string, value: string, options?: { timeout?: number | null; signal?: AbortSignal }): Promise<EtcdLease>
  leader(name: string): Promise<EtcdLeader | null>
}

// ----- low level: the core's machines ------------------------------------------------------

/** A core machine by name, built and driven with the vectors' JSON objects (snake_case). */
export declare class Machine<I extends object = object, O = unknown, L = unknown> {
  constructor(machine: string, config: object, init: object)
  readonly machine: string
  handleInput(input: I): void
  pollOutput(): O | null
  pollTimeout(): number | null
  step(input: I): O[]
  drain(): O[]
  readonly state: string
  /** The lease (Redlock) or lock (etcd); `null` before acquisition. */
  readonly lease: L | null
  readonly lock: EtcdLockInfo | null
  readonly leader: EtcdLeader | null
}
export declare class RedlockMachine extends Machine<RedlockInput, RedlockOutput, RedlockLease> {
  constructor(config: RedlockConfig, init: RedlockInit)
}
export declare class EtcdMutexMachine extends Machine<EtcdInput, EtcdOutput, EtcdLockInfo> {
  constructor(config: EtcdConfig, init: EtcdMutexInit)
}
export declare class EtcdElectionMachine extends Machine<EtcdInput, EtcdOutput, EtcdLockInfo> {
  constructor(config: EtcdConfig, init: EtcdElectionInit)
}
export declare class EtcdObserverMachine extends Machine<EtcdInput, EtcdOutput, null> {
  constructor(config: EtcdConfig, init: EtcdObserverInit)
}
export declare class ZooKeeperLockMachine extends Machine {
  constructor(config: object, init: object)
}
export declare class ZooKeeperElectionMachine extends Machine {
  constructor(config: object, init: object)
}
export declare class AdvisoryLockMachine extends Machine {
  constructor(config: object, init: object)
}
export declare function createMachine(machine: string, config: object, init: object): Machine
export declare function machineNames(): string[]
export declare function checkConfig(machine: string, config: object): void
export declare function lockValueFromRandom(bytes: Uint8Array): string
export declare function redlockScripts(): ScriptInfo[]
/** The etcd gateway request for a command (`body` is JSON text), or `null` for `cancel_watch`. */
export declare function gatewayEncode(command: object): { path: string; body: string } | null
/** Decodes a gateway response body; throws `ETCD_GATEWAY_JSON` / `ETCD_GATEWAY_FIELD`. */
export declare function gatewayDecode(command: object, body: string | Uint8Array): EtcdReply
/** Decodes one watch line (`null`: it does not answer the watch). */
export declare function gatewayDecodeWatchLine(line: string | Uint8Array): EtcdReply | null

/** In-memory guard: admits a token at least as high as the highest admitted. */
export declare class FenceGuard {
  constructor(highest?: Int | null)
  admit(token: Int): { accepted: true } | { accepted: false; highest: Int }
  readonly highest: Int | null
}
export declare function fencedUpdateSql(table: string, columns: string[], fenceColumn: string, keyColumn: string): string
/** The host clock the machines run on: `performance.now()` floored to ms. */
export declare function clock(): number
