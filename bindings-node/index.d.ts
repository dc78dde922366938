/// <reference types="node" />
// Types of the `fencelock` package (hand-written; the native module's own
// declarations are generated into native.d.ts by napi-rs).

import type { EventEmitter } from 'node:events'
import type {
  AcquireFailure,
  AdvisoryConfig,
  AdvisoryInit,
  AdvisoryInput,
  AdvisoryLockInfo,
  AdvisoryOutput,
  AdvisoryReleaseOutcome,
  AnyAcquireFailure,
  AnyLostReason,
  EtcdConfig,
  EtcdElectionInit,
  EtcdInput,
  EtcdLeader,
  EtcdLockInfo,
  EtcdMutexInit,
  EtcdObserverInit,
  EtcdOutput,
  EtcdReply,
  GatewayRequest,
  Int,
  LostReason,
  Output,
  RedlockConfig,
  RedlockInit,
  RedlockInput,
  RedlockLease,
  RedlockOutput,
  ReleaseOutcome,
  ScriptInfo,
  ZooKeeperConfig,
  ZooKeeperElectionInit,
  ZooKeeperInput,
  ZooKeeperLockInfo,
  ZooKeeperLockInit,
  ZooKeeperOutput,
} from './types'

export type * from './types'

// ----- errors ------------------------------------------------------------------

/** Every error fencelock throws. `code` is stable (conformance/errors.json); messages are not. */
export declare class FencelockError extends Error {
  constructor(code: string, message: string, options?: ErrorOptions)
  readonly code: string
}

/** A lock could not be configured: `NO_NODES`, `INVALID_TTL`, `TTL_TOO_SHORT`, `EMPTY_RESOURCE`, ... */
export declare class ConfigError extends FencelockError {}

/** A machine or lease was misused: `INVALID_STATE` (e.g. extend after release), `NON_MONOTONIC_TIME`, ... */
export declare class UsageError extends FencelockError {}

/**
 * A value of the wrong type, NaN, Infinity, a negative or fractional number where
 * an integer is needed, an object that is not a Redis client (`INVALID_INPUT`), or
 * an identifier that is not a plain SQL identifier (`INVALID_IDENTIFIER`).
 */
export declare class InvalidInputError extends FencelockError {
  constructor(message: string, options?: ErrorOptions & { code?: string })
}

/**
 * The acquisition ended without a lease (the machine's `acquire_failed`). Code
 * `LOCK_NOT_ACQUIRED` (`SESSION_NOT_PINNED` for SessionNotPinnedError).
 */
export declare class LockNotAcquiredError extends FencelockError {
  readonly code: 'LOCK_NOT_ACQUIRED' | 'SESSION_NOT_PINNED'
  readonly resources: string[]
  /**
   * The machine's reason: Redlock `attempts_exhausted`, `deadline`, `cancelled` (the
   * acquire signal aborted; its reason is `cause`); etcd, ZooKeeper and PostgreSQL
   * also `locked` (a try-lock), PostgreSQL `already_held`, `session_lost`, `session_not_pinned`.
   */
  readonly reason: AnyAcquireFailure
  /** The machine's statistics (Redlock: latency, attempts, contended; etcd / ZooKeeper: latency, retries, queued). */
  readonly stats: AcquireStats & Record<string, unknown>
}

/**
 * A PostgreSQL advisory lock saw its statements run on two backends: the
 * connection goes through a transaction-mode pooler (or is not pinned to one
 * session). Use a direct connection or session pooling. Code `SESSION_NOT_PINNED`.
 */
export declare class SessionNotPinnedError extends LockNotAcquiredError {
  readonly code: 'SESSION_NOT_PINNED'
  readonly reason: 'session_not_pinned'
}

/**
 * The lease was lost: stop using the resource. The reason of `Lease.signal`; also
 * how an etcd acquire ends whose queue place was lost (the machine cleaned up).
 * Code `LEASE_LOST`.
 */
export declare class LockLostError extends FencelockError {
  readonly code: 'LEASE_LOST'
  readonly resources: string[]
  /** The machine's reason (Redlock: `expired`, `extension_failed`, `rejected`; see AnyLostReason). */
  readonly reason: AnyLostReason
  /** ms from acquisition to the end of the hold (`null`: lost before it was held). */
  readonly heldFor: number | null
}

/** An etcd JSON-gateway body the core's codec could not decode: `ETCD_GATEWAY_JSON`, `ETCD_GATEWAY_FIELD`. */
export declare class WireError extends FencelockError {}

/** A bug inside fencelock (a caught Rust panic, a stalled machine). Code `INTERNAL`. */
export declare class InternalError extends FencelockError {}

// ----- high level: Redlock ---------------------------------------------------------

/** A client of one Redis master: an ioredis `Redis` / `Cluster`, or a connected node-redis client. */
export type RedisClient = object

/** Retry schedule of failed acquisition attempts. */
export interface RetryOptions {
  /** Attempts in total, the first included; `null` or `Infinity`: until the `timeout`. Default 10. */
  maxAttempts?: number | null
  /** Delay before the first retry, ms. Default 100. */
  baseDelay?: number
  /** Cap of exponential growth, ms. Default 1600. */
  maxDelay?: number
  /** Default `"exponential"`. */
  backoff?: 'exponential' | 'fixed'
  /** Each delay moves by up to this many ms either way. Default 50. */
  jitter?: number
}

/** How leases are taken, kept and released. Every field has a default. */
export interface LockOptions {
  /** Key TTL on every master, integer ms. Default 10000. */
  ttl?: number
  /** Clock-drift allowance as a fraction of the TTL. Default 0.01. */
  driftFactor?: number
  /** Per-node reply timeout, ms. Default: a tenth of the validity window, at most 200. */
  nodeTimeout?: number | null
  retry?: RetryOptions
  /** Extend the lease automatically while it is held. Default false (true in `using`). */
  autoExtend?: boolean
  /** Hand out fencing tokens. Default true. */
  fencing?: boolean
  /** Prefix of every key. Default `"fencelock"`. */
  namespace?: string
  /** Seed of the retry-jitter PRNG (decimal string or BigInt above 2^53). Default: 64 random bits per lease. */
  seed?: number | bigint | string
}

export interface RedlockOptions extends LockOptions {
  /** Called with every event of every lease (same payloads as `events`). */
  onEvent?: (event: RedlockEventPayload) => void
}

export interface AcquireOptions extends LockOptions {
  /** Give up acquiring after this many ms. Default: only the retry policy limits it. */
  timeout?: number | null
  /** Cancels the acquisition (rejects with LockNotAcquiredError, reason `cancelled`). */
  signal?: AbortSignal
}

export interface AcquireStats {
  /** From the first attempt's start to the outcome, ms. */
  latency: number
  /** Attempts started. */
  attempts: number
  /** Attempts that met another holder. */
  contended: number
}

/** A held lease. Dispose of it (`await using`) or `release()` it. */
export declare class Lease implements AsyncDisposable {
  private constructor()
  /** Locked resources, sorted. */
  readonly resources: string[]
  /** The random lock value written on every master. */
  readonly value: string
  /** Fencing token to pass to the protected resource (`null` with `fencing: false`). */
  readonly fencingToken: number | bigint | null
  /** When the lease was acquired, ms on the `performance.now()` clock. */
  readonly acquiredAt: number
  /** End of validity, ms on the `performance.now()` clock (moves on with extensions). */
  readonly validUntil: number
  /** How the acquisition went. */
  readonly stats: AcquireStats
  /** Aborted with a LockLostError when the lease is lost. */
  readonly signal: AbortSignal
  /** The machine's state: `held`, `extending`, `lost`, `releasing`, `released`. */
  readonly state: string
  /** Why the lease was lost, or `null`. */
  readonly lostReason: LostReason | null
  /** ms of validity left (0 once expired, lost or released). */
  remaining(): number
  /**
   * Extends now: `true` when a quorum confirmed, `false` when it failed but the
   * lease is still valid. Rejects with LockLostError once lost, UsageError once released.
   */
  extend(): Promise<boolean>
  /**
   * Releases on every master; resolves with the outcome (releasing an expired
   * lease is not an error). Rejects with UsageError (`INVALID_STATE`) if already released.
   */
  release(): Promise<ReleaseOutcome>
  /** Releases unless already released. */
  [Symbol.asyncDispose](): Promise<void>
}

/** Event names of `Redlock.events` (the core's event types in camelCase). */
export type RedlockEventName =
  | 'nodeError'
  | 'attemptFailed'
  | 'acquired'
  | 'acquireFailed'
  | 'extended'
  | 'extendFailed'
  | 'expiryWarning'
  | 'lost'
  | 'released'

/** Payload of every event: the core's event with camelCase keys, plus the lease's resources. */
export interface RedlockEventPayload {
  type: RedlockEventName
  resources: string[]
  [field: string]: unknown
}

/** `acquired`: latency, attempts and contention of an acquisition. */
export interface AcquiredEvent extends RedlockEventPayload {
  type: 'acquired'
  lease: { resources: string[]; value: string; acquiredAt: number; validUntil: number; fencingToken: Int | null }
  stats: AcquireStats
}

/** `released`: the outcome and the hold time. */
export interface ReleasedEvent extends RedlockEventPayload {
  type: 'released'
  outcome: ReleaseOutcome
  heldFor: number
}

/** `lost`: the reason and the hold time. */
export interface LostEvent extends RedlockEventPayload {
  type: 'lost'
  reason: LostReason
  heldFor: number
}

/** Redlock over N independent Redis masters, with fencing tokens. */
export declare class Redlock {
  /**
   * @param clients one ioredis or node-redis client per master
   * @throws InvalidInputError for a non-client or a bad option, ConfigError for an invalid configuration
   */
  constructor(clients: Iterable<RedisClient>, options?: RedlockOptions)
  /** Number of masters. */
  readonly nodes: number
  /** Metrics and lifecycle events of every lease: `acquired`, `released`, `lost`, ..., and `event` for all. */
  readonly events: EventEmitter
  /**
   * Acquires `resources` together. Rejects with LockNotAcquiredError, ConfigError
   * (empty or over-long names, ...) or InvalidInputError.
   */
  acquire(resources: string | readonly string[], options?: AcquireOptions): Promise<Lease>
  /**
   * Runs `routine` while holding `resources`, with auto-extension, then releases.
   * The routine's own error is rethrown unmasked; `signal` aborts if the lease is lost.
   */
  using<T>(resources: string | readonly string[], routine: (signal: AbortSignal, lease: Lease) => Promise<T>): Promise<T>
  using<T>(
    resources: string | readonly string[],
    options: AcquireOptions,
    routine: (signal: AbortSignal, lease: Lease) => Promise<T>
  ): Promise<T>
}

// ----- high level: etcd ------------------------------------------------------------------

/** An `etcd3` client (`new Etcd3({hosts})`): requests go over gRPC. */
export type Etcd3Client = { kv: object; leaseClient: object; watchClient: object }

/** The etcd v3 JSON gateway through `fetch`: endpoints (`http://host:port`), tried in turn when one cannot connect. */
export interface EtcdGatewayOptions {
  endpoints: string[]
  /** Default: the global `fetch`. */
  fetch?: typeof fetch
  /** Extra request headers (e.g. `Authorization`). */
  headers?: Record<string, string>
}

export interface EtcdOptions {
  /** Lease TTL to request, whole seconds. Default 10 (etcd may raise it). */
  ttlSecs?: number
  /** Clock-drift allowance as a fraction of the TTL. Default 0.01. */
  driftFactor?: number
  /** Per-request timeout, ms. Default: a third of the validity window, at most 2000. */
  requestTimeout?: number | null
  /** Wait for the predecessor with a watch (default) or by polling. */
  wait?: 'watch' | 'poll'
  /** Poll interval, ms (`wait: 'poll'`). Default 250. */
  pollInterval?: number
  /** Re-read the predecessor after this many ms without watch news. Default: the TTL. */
  recheck?: number | null
  retry?: RetryOptions
  /** Retry-jitter seed (decimal string or BigInt). Default: 64 random bits per lock. */
  seed?: number | bigint | string
  /** Called with every event of every lock (`type` camelCase, plus `name`). */
  onEvent?: (event: { type: string; name: string; [field: string]: unknown }) => void
}

/** A held etcd lock or won election: the shape of a Redlock lease. */
export declare class EtcdLease implements AsyncDisposable {
  private constructor()
  /** `[name]`. */
  readonly resources: string[]
  readonly name: string
  /** Our key: `name/<lowercase hex lease id>` (Go's layout). */
  readonly key: string
  /** Our lease id (decimal string). */
  readonly leaseId: string
  /** Our key's create revision: strictly increases from one holder to the next (BigInt past 2^53). */
  readonly fencingToken: number | bigint
  readonly acquiredAt: number
  /** End of validity on the `performance.now()` clock; moves on with every acknowledged keep-alive. */
  readonly validUntil: number
  readonly stats: { latency: number; retries: number; queued: boolean }
  /** Aborted with a LockLostError when the lock is lost. */
  readonly signal: AbortSignal
  /** `held`, `proclaiming`, `lost`, `releasing`, `released`. */
  readonly state: string
  readonly lostReason: 'expired' | 'revoked' | 'key_deleted' | null
  remaining(): number
  /** Keep-alives are automatic: `true` while held; rejects with LockLostError once lost. */
  extend(): Promise<boolean>
  /** Election: sets the leader's value (guarded); `false` when unanswered; rejects once leadership is lost. */
  proclaim(value: string): Promise<boolean>
  /** Guarded delete of our key, then the lease revoke. */
  release(): Promise<'released' | 'already_expired' | 'unreachable'>
  /** `release()`. */
  resign(): Promise<'released' | 'already_expired' | 'unreachable'>
  [Symbol.asyncDispose](): Promise<void>
}

/** An etcd lease mutex, wire-compatible with Go's `concurrency.Mutex` (and `etcdctl lock`). */
export declare class EtcdLock {
  /** @param client an etcd3 client (gRPC) or JSON-gateway options (fetch) */
  constructor(client: Etcd3Client | EtcdGatewayOptions, options?: EtcdOptions)
  readonly transport: 'grpc' | 'gateway'
  readonly events: EventEmitter
  /**
   * Rejects with LockNotAcquiredError (`locked` for a try-lock, `deadline`,
   * `cancelled`, `attempts_exhausted`) or LockLostError (our lease ended while queued).
   */
  acquire(name: string, options?: { timeout?: number | null; tryLock?: boolean; signal?: AbortSignal }): Promise<EtcdLease>
  using<T>(name: string, routine: (signal: AbortSignal, lease: EtcdLease) => Promise<T>): Promise<T>
  using<T>(name: string, options: { timeout?: number | null; signal?: AbortSignal }, routine: (signal: AbortSignal, lease: EtcdLease) => Promise<T>): Promise<T>
}

/** An etcd election, wire-compatible with Go's `concurrency.Election`. */
export declare class EtcdElection {
  constructor(client: Etcd3Client | EtcdGatewayOptions, options?: EtcdOptions)
  readonly transport: 'grpc' | 'gateway'
  readonly events: EventEmitter
  /** Resolves once elected. */
  campaign(name: string, value: string, options?: { timeout?: number | null; signal?: AbortSignal }): Promise<EtcdLease>
  /** The current leader (ours or a Go campaigner's), or `null`. */
  leader(name: string): Promise<EtcdLeader | null>
  /** The leader now and whenever it changes, until the loop breaks or `signal` aborts. */
  observe(name: string, options?: { signal?: AbortSignal }): AsyncIterableIterator<EtcdLeader | null>
  /** Campaigns, runs `routine` while leader, then resigns. */
  using<T>(name: string, value: string, routine: (signal: AbortSignal, lease: EtcdLease) => Promise<T>): Promise<T>
}

// ----- high level: ZooKeeper -------------------------------------------------------------

/** A node-zookeeper-client client (`zookeeper.createClient(...)`, connected or connecting). */
export type ZooKeeperClient = object

export interface ZooKeeperOptions {
  driftFactor?: number
  /** Per-request timeout, ms. Default: a third of the validity window, at most 2000. */
  requestTimeout?: number | null
  /** List again after this many ms without a watch notification. Default: the session timeout. */
  recheck?: number | null
  retry?: RetryOptions
  seed?: number | bigint | string
  onEvent?: (event: { type: string; name: string; [field: string]: unknown }) => void
}

/** A held ZooKeeper lock or won election: the shape of a Redlock lease. */
export declare class ZooKeeperLease implements AsyncDisposable {
  private constructor()
  /** `[path]`. */
  readonly resources: string[]
  readonly name: string
  /** Our node: `<path>/<guid>-lock-<sequence>`. */
  readonly node: string
  /** Our node's czxid: strictly increases from one holder to the next. */
  readonly fencingToken: bigint
  /** The session that owns our node (decimal). */
  readonly session: string
  readonly acquiredAt: number
  /** End of validity on the `performance.now()` clock; moves on with every server answer. */
  readonly validUntil: number
  readonly stats: Record<string, unknown>
  readonly signal: AbortSignal
  /** `held`, `uncertain` (disconnected), `lost`, `releasing`, `released`. */
  readonly state: string
  readonly lostReason: 'expired' | 'session_expired' | 'node_deleted' | 'owner_mismatch' | null
  remaining(): number
  extend(): Promise<boolean>
  /** Deletes our node (retried until ZooKeeper confirms or the session ends; never times out). */
  release(): Promise<'released' | 'already_expired'>
  resign(): Promise<'released' | 'already_expired'>
  [Symbol.asyncDispose](): Promise<void>
}

/** A ZooKeeper lock (ephemeral-sequential recipe, czxid tokens) in a node-zookeeper-client session. */
export declare class ZooKeeperLock {
  constructor(client: ZooKeeperClient, options?: ZooKeeperOptions)
  readonly client: ZooKeeperClient
  readonly events: EventEmitter
  acquire(path: string, options?: { timeout?: number | null; tryLock?: boolean; signal?: AbortSignal; value?: string }): Promise<ZooKeeperLease>
  using<T>(path: string, routine: (signal: AbortSignal, lease: ZooKeeperLease) => Promise<T>): Promise<T>
  using<T>(path: string, options: { timeout?: number | null; signal?: AbortSignal }, routine: (signal: AbortSignal, lease: ZooKeeperLease) => Promise<T>): Promise<T>
}

/** A ZooKeeper election: elected = our node is the lowest and owned by our session. */
export declare class ZooKeeperElection {
  constructor(client: ZooKeeperClient, options?: ZooKeeperOptions)
  readonly client: ZooKeeperClient
  readonly events: EventEmitter
  campaign(path: string, value: string, options?: { timeout?: number | null; signal?: AbortSignal }): Promise<ZooKeeperLease>
}

// ----- high level: PostgreSQL --------------------------------------------------------------

/** A `pg.Pool` (a client checked out per lock), a `pg.Client`, or a function resolving to a connected `pg.Client`. */
export type PgSource = object | (() => Promise<object>)

export interface AdvisoryOptions {
  /** Per-statement timeout, ms. Default 5000. */
  requestTimeout?: number | null
  /** While held, check the session still holds the lock this often, ms. Default 5000. */
  checkInterval?: number | null
  retry?: RetryOptions
  seed?: number | bigint | string
  onEvent?: (event: { type: string; name: string; [field: string]: unknown }) => void
}

/** A held PostgreSQL advisory lock (no TTL: it lasts as long as its pinned session). */
export declare class AdvisoryLease implements AsyncDisposable {
  private constructor()
  readonly resources: string[]
  readonly name: string
  /** The name's counter in `fencelock_fence`: strictly increases from one holder to the next. */
  readonly fencingToken: number | bigint
  /** The backend pid of the pinned session. */
  readonly pid: number
  readonly acquiredAt: number
  /** `Infinity`: no TTL. */
  readonly validUntil: number
  readonly stats: Record<string, unknown>
  readonly signal: AbortSignal
  /** `held`, `uncertain`, `lost`, `releasing`, `released`. */
  readonly state: string
  readonly lostReason: 'session_lost' | 'not_held' | 'session_not_pinned' | null
  remaining(): number
  extend(): Promise<boolean>
  /** Unlocks (guarded by the backend pid); after `session_not_pinned`, `unconfirmed` or `session_lost` the connection is closed, not reused. */
  release(): Promise<AdvisoryReleaseOutcome>
  [Symbol.asyncDispose](): Promise<void>
}

/** A PostgreSQL advisory lock (`pg_try_advisory_lock(hashtextextended(name, 0))`) with a fencing counter, over `pg`. */
export declare class AdvisoryLock {
  constructor(source: PgSource, options?: AdvisoryOptions)
  readonly events: EventEmitter
  /** Rejects with LockNotAcquiredError, or SessionNotPinnedError behind a transaction-mode pooler. */
  acquire(name: string, options?: { timeout?: number | null; tryLock?: boolean; signal?: AbortSignal }): Promise<AdvisoryLease>
  using<T>(name: string, routine: (signal: AbortSignal, lease: AdvisoryLease) => Promise<T>): Promise<T>
  using<T>(name: string, options: { timeout?: number | null; signal?: AbortSignal }, routine: (signal: AbortSignal, lease: AdvisoryLease) => Promise<T>): Promise<T>
}

// ----- fencing ---------------------------------------------------------------------

/** In-memory guard: admits a token at least as high as the highest admitted. */
export declare class FenceGuard {
  constructor(highest?: number | bigint | null)
  admit(token: number | bigint): { accepted: true } | { accepted: false; highest: number | bigint }
  readonly highest: number | bigint | null
}

/** A Redis value only current holders may write (keys `<name>:fence`, `<name>:data`). */
export declare class RedisFence {
  constructor(client: RedisClient, name: string)
  readonly client: RedisClient
  readonly keys: [string, string]
  /** Writes `value` if `token` is at least the highest admitted; `highest` is the highest after the call. */
  write(token: number | bigint, value: string): Promise<{ accepted: boolean; highest: number | bigint }>
}

/** A client with `query(text, params)` (node-postgres and alikes). */
export interface SqlClient {
  query(text: string, params: unknown[]): Promise<{ rowCount: number | null }>
}

/** A SQL row only current holders may update. */
export declare class SqlFence {
  constructor(spec: { table: string; columns: string[]; fenceColumn: string; keyColumn: string })
  /** The UPDATE statement (PostgreSQL placeholders). */
  readonly sql: string
  readonly columns: string[]
  /** Resolves `true` if the write was admitted (one row updated). */
  update(client: SqlClient, key: unknown, values: unknown[], token: number | bigint): Promise<boolean>
}

/** `UPDATE <table> SET ... WHERE <key> = $N+1 AND <fence> <= $N`; throws InvalidInputError (`INVALID_IDENTIFIER`). */
export declare function fencedUpdateSql(table: string, columns: string[], fenceColumn: string, keyColumn: string): string

// ----- low level: the core's machines ----------------------------------------------------

/** A core machine by name, built and driven with the vectors' JSON objects (snake_case). */
export declare class Machine<I extends object = object, O = Output, L = unknown> {
  /** @throws ConfigError (the core's config codes) or InvalidInputError */
  constructor(machine: string, config: object, init: object)
  readonly machine: string
  /** @throws UsageError (the core's usage codes) or InvalidInputError; the machine is then unchanged. */
  handleInput(input: I): void
  pollOutput(): O | null
  pollTimeout(): number | bigint | null
  /** `handleInput(input)`, then every output. */
  step(input: I): O[]
  /** Every queued output (the first commands after construction). */
  drain(): O[]
  readonly state: string
  /** The lease getter (`null` before acquisition, or for machines without one). */
  readonly lease: L | null
  /** The `lock` getter of etcd, ZooKeeper and PostgreSQL machines (`null` before acquisition, or without one). */
  readonly lock: unknown
  /** The `leader` getter of the etcd observer (`null` otherwise). */
  readonly leader: unknown
  /** Names of this machine's getters besides `state` (`["lease"]` for Redlock). */
  readonly views: string[]
  /** The getter named `name` (one of `views`), in the vectors' JSON form. */
  view(name: string): unknown
}

/** The Redlock machine. */
export declare class RedlockMachine extends Machine<RedlockInput, RedlockOutput, RedlockLease> {
  constructor(config: RedlockConfig, init: RedlockInit)
}

/** An etcd lease mutex (`etcd_mutex`). */
export declare class EtcdMutexMachine extends Machine<EtcdInput, EtcdOutput, never> {
  constructor(config: EtcdConfig, init: EtcdMutexInit)
  /** The held lock (`null` before acquisition). */
  readonly lock: EtcdLockInfo | null
}
/** An etcd election campaign (`etcd_election`). */
export declare class EtcdElectionMachine extends Machine<EtcdInput, EtcdOutput, never> {
  constructor(config: EtcdConfig, init: EtcdElectionInit)
  readonly lock: EtcdLockInfo | null
}
/** An etcd leader observer (`etcd_observer`). */
export declare class EtcdObserverMachine extends Machine<EtcdInput, EtcdOutput, never> {
  constructor(config: EtcdConfig, init: EtcdObserverInit)
  /** The last leader reported (`null` before the first read, or none). */
  readonly leader: EtcdLeader | null
}
/** A ZooKeeper lock (`zookeeper_lock`). */
export declare class ZooKeeperLockMachine extends Machine<ZooKeeperInput, ZooKeeperOutput, never> {
  constructor(config: ZooKeeperConfig, init: ZooKeeperLockInit)
  readonly lock: ZooKeeperLockInfo | null
}
/** A ZooKeeper election (`zookeeper_election`). */
export declare class ZooKeeperElectionMachine extends Machine<ZooKeeperInput, ZooKeeperOutput, never> {
  constructor(config: ZooKeeperConfig, init: ZooKeeperElectionInit)
  readonly lock: ZooKeeperLockInfo | null
}
/** A PostgreSQL advisory lock (`advisory_lock`). */
export declare class AdvisoryLockMachine extends Machine<AdvisoryInput, AdvisoryOutput, never> {
  constructor(config: AdvisoryConfig, init: AdvisoryInit)
  readonly lock: AdvisoryLockInfo | null
}

/** The etcd JSON-gateway request for an etcd command (the core's codec); `null` for `cancel_watch`. */
export declare function gatewayEncode(command: object): GatewayRequest | null
/** Decodes a gateway response body for `command`; throws WireError (`ETCD_GATEWAY_JSON`, `ETCD_GATEWAY_FIELD`). */
export declare function gatewayDecode(command: object, body: string | Uint8Array | ArrayBuffer): EtcdReply
/** Decodes one watch-stream line: the reply, or `null` when the line does not answer the watch. */
export declare function gatewayDecodeWatchLine(line: string | Uint8Array | ArrayBuffer): EtcdReply | null

/** Builds a machine by name (a vector's `machine` field). */
export declare function createMachine(machine: string, config: object, init: object): Machine
/** Names of the machines this build exposes. */
export declare function machineNames(): string[]
/** Checks a config object without building a machine. */
export declare function checkConfig(machine: string, config: object): void
/** A lock value (UUID v4 text) from exactly 16 CSPRNG bytes, as the core formats it. */
export declare function lockValueFromRandom(bytes: Uint8Array): string
/** The Redlock scripts with their SHA1. */
export declare function redlockScripts(): ScriptInfo[]
/** The host clock the machines run on: `performance.now()` floored to ms. */
export declare function clock(): number
