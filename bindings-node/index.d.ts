/// <reference types="node" />
// Types of the `fencelock` package (hand-written; the native module's own
// declarations are generated into native.d.ts by napi-rs).

import type { EventEmitter } from 'node:events'
import type {
  AcquireFailure,
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

/** The acquisition ended without a lease. Code `LOCK_NOT_ACQUIRED`. */
export declare class LockNotAcquiredError extends FencelockError {
  readonly code: 'LOCK_NOT_ACQUIRED'
  readonly resources: string[]
  /** `attempts_exhausted`, `deadline`, or `cancelled` (the acquire signal aborted; its reason is `cause`). */
  readonly reason: AcquireFailure
  readonly stats: AcquireStats
}

/** The lease was lost: stop using the resource. The reason of `Lease.signal`. Code `LEASE_LOST`. */
export declare class LockLostError extends FencelockError {
  readonly code: 'LEASE_LOST'
  readonly resources: string[]
  readonly reason: LostReason
  /** ms from acquisition to the end of the hold. */
  readonly heldFor: number
}

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
  /** Names of this machine's getters besides `state` (`["lease"]` for Redlock). */
  readonly views: string[]
  /** The getter named `name` (one of `views`), in the vectors' JSON form. */
  view(name: string): unknown
}

/** The Redlock machine. */
export declare class RedlockMachine extends Machine<RedlockInput, RedlockOutput, RedlockLease> {
  constructor(config: RedlockConfig, init: RedlockInit)
}

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
