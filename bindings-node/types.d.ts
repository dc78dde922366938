// The conformance vocabulary (conformance/schema/vector.schema.json) as
// TypeScript types: what the low-level machine classes take and return.
// Keys are snake_case, as in the vectors. Integers above 2^53 - 1 (never a
// time; possibly a fencing token or a Redis integer reply) are BigInt, and
// BigInt is accepted wherever an integer is.

/** An integer: a number, or a BigInt beyond `Number.MAX_SAFE_INTEGER`. */
export type Int = number | bigint

/** Retry schedule of failed acquisition attempts. */
export interface RetryConfig {
  /** Attempts in total, the first included; `null`: until the deadline. Default 10. */
  max_attempts?: number | null
  /** Delay before the first retry, ms. Default 100. */
  base_delay?: Int
  /** Cap of exponential growth, ms. Default 1600. */
  max_delay?: Int
  /** Default `"exponential"`. */
  backoff?: 'exponential' | 'fixed'
  /** Each delay moves by up to this many ms either way. Default 50. */
  jitter?: Int
}

/** `config` of a Redlock machine. */
export interface RedlockConfig {
  /** Number of masters (1 to 64). */
  nodes: number
  /** Key TTL, ms (1 to 2^31 - 1). */
  ttl: Int
  /** Clock-drift allowance, parts per million of the TTL. Default 10000. */
  drift_ppm?: number
  /** Per-node reply timeout, ms. Default: a tenth of the validity window, at most 200. */
  node_timeout?: Int | null
  retry?: RetryConfig
  /** Seed of the jitter PRNG (64 bits). */
  rng_seed?: Int
  auto_extend?: boolean
  fencing?: boolean
  namespace?: string
}

/** `init` of a Redlock machine. */
export interface RedlockInit {
  /** Current time (ms, monotonic); the first attempt starts now. */
  now: Int
  /** Resources locked together. */
  resources: string[]
  /** Unique lock value (see `lockValueFromRandom`). */
  value: string
  /** Acquire deadline, ms from `now`; `null`: none. */
  timeout?: Int | null
}

/** What a node answered (or why it did not). */
export type NodeReply =
  | { type: 'int'; value: Int }
  | { type: 'nil' }
  | { type: 'text'; value: string }
  | { type: 'array'; items: NodeReply[] }
  | { type: 'error'; kind: NodeErrorKind; message?: string }

export type NodeErrorKind = 'timeout' | 'connection' | 'server' | 'protocol'

/** An input to a Redlock machine. */
export type RedlockInput =
  | { type: 'reply'; now: Int; req: Int; node?: number; result: NodeReply }
  | { type: 'timeout'; now: Int }
  | { type: 'extend'; now: Int }
  | { type: 'release'; now: Int }

export type ScriptName = 'acquire' | 'extend' | 'release' | 'fence'

/** Run `EVALSHA <sha1 of script> <keys.length> keys... args...` on `node`. */
export interface EvalCommand {
  type: 'eval'
  req: number
  node: number
  script: ScriptName
  keys: string[]
  args: string[]
}

/** A held lease (snake_case, as the machine's `lease` getter). */
export interface RedlockLease {
  resources: string[]
  value: string
  acquired_at: number
  valid_until: number
  fencing_token: Int | null
}

export interface AcquireStats {
  latency: number
  attempts: number
  contended: number
}

export type AttemptFailure = 'no_quorum' | 'fence_unconfirmed' | 'deadline'
export type AcquireFailure = 'attempts_exhausted' | 'deadline' | 'cancelled'
export type LostReason = 'expired' | 'extension_failed' | 'rejected'
export type ReleaseOutcome = 'released' | 'already_expired' | 'held_by_other' | 'quorum_unreachable'

/** An event of a Redlock machine. */
export type RedlockEvent =
  | { type: 'node_error'; req: number; node: number; kind: NodeErrorKind; message: string }
  | {
      type: 'attempt_failed'
      attempt: number
      reason: AttemptFailure
      granted: number
      conflicts: number
      errors: number
      retry_at: number | null
    }
  | { type: 'acquired'; lease: RedlockLease; stats: AcquireStats }
  | { type: 'acquire_failed'; reason: AcquireFailure; stats: AcquireStats }
  | { type: 'extended'; valid_until: number }
  | { type: 'extend_failed'; reason: 'no_quorum'; valid_until: number; retry_at: number | null }
  | { type: 'expiry_warning'; valid_until: number }
  | { type: 'lost'; reason: LostReason; held_for: number }
  | { type: 'released'; outcome: ReleaseOutcome; held_for: number }

/** An output of a Redlock machine. */
export type RedlockOutput = { command: EvalCommand } | { event: RedlockEvent }

export type RedlockState =
  | 'acquiring'
  | 'retrying'
  | 'held'
  | 'extending'
  | 'lost'
  | 'releasing'
  | 'released'
  | 'failed'

/** Any machine's output: `{command: {...}}` or `{event: {...}}`. */
export type Output = RedlockOutput | { command: { type: string; [key: string]: unknown } } | { event: { type: string; [key: string]: unknown } }

/** Any machine's lease. */
export type Lease = RedlockLease | Record<string, unknown>

/** A Lua script as the core defines it. */
export interface ScriptInfo {
  name: string
  sha1: string
  source: string
}

/** The in-memory guard's native verdict. */
export type Admission = { type: 'accepted' } | { type: 'rejected_stale'; highest: Int }
