// The conformance vocabulary (conformance/schema/vector.schema.json) as
// TypeScript types: what the low-level machine classes take and return. Keys
// are snake_case, as in the vectors. Integers above 2^53 - 1 (never a time;
// possibly a fencing token or a Redis integer reply) are BigInt, and BigInt is
// accepted wherever an integer is. 64-bit etcd lease ids are decimal strings.

/** An integer: a number, or a BigInt beyond `Number.MAX_SAFE_INTEGER`. */
export type Int = number | bigint

/** Retry schedule of failed attempts (Redlock) or requests (etcd). */
export interface RetryConfig {
  max_attempts?: number | null
  base_delay?: Int
  max_delay?: Int
  backoff?: 'exponential' | 'fixed'
  jitter?: Int
}

/** `config` of a Redlock machine. */
export interface RedlockConfig {
  nodes: number
  ttl: Int
  drift_ppm?: number
  node_timeout?: Int | null
  retry?: RetryConfig
  rng_seed?: Int
  auto_extend?: boolean
  fencing?: boolean
  namespace?: string
}

/** `init` of a Redlock machine. */
export interface RedlockInit {
  now: Int
  resources: string[]
  value: string
  timeout?: Int | null
}

/** What a Redis node answered (or why it did not). */
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

/** What a high-level `send` receives: the eval command plus the script's SHA1 and source (for EVAL on NOSCRIPT). */
export interface SendCommand extends EvalCommand {
  sha1: string
  source: string
}

/** A held Redlock lease (snake_case, as the machine's `lease` getter). */
export interface RedlockLease {
  resources: string[]
  value: string
  acquired_at: number
  valid_until: number
  fencing_token: Int | null
}

export type RedlockOutput = { command: EvalCommand } | { event: { type: string; [field: string]: unknown } }

export type AcquireFailure = 'attempts_exhausted' | 'deadline' | 'cancelled' | 'locked'
export type LostReason = 'expired' | 'extension_failed' | 'rejected' | 'revoked' | 'key_deleted'
export type ReleaseOutcome = 'released' | 'already_expired' | 'held_by_other' | 'quorum_unreachable' | 'unreachable'

/** `config` of the etcd machines. */
export interface EtcdConfig {
  ttl_secs: Int
  drift_ppm?: number
  request_timeout?: Int | null
  wait?: { type: 'watch'; recheck?: Int | null } | { type: 'poll'; interval: Int }
  retry?: RetryConfig
  rng_seed?: Int
}

/** `init` of an etcd mutex. */
export interface EtcdMutexInit {
  now: Int
  name: string
  timeout?: Int | null
  try_lock?: boolean
}

/** `init` of an etcd election. */
export interface EtcdElectionInit {
  now: Int
  name: string
  value: string
  timeout?: Int | null
}

/** `init` of an etcd observer. */
export interface EtcdObserverInit {
  now: Int
  name: string
  follow?: boolean
}

/** An etcd reply (see conformance/README.md). */
export type EtcdReply = { type: string; [field: string]: unknown }

/** An input to an etcd machine. */
export type EtcdInput =
  | { type: 'reply'; now: Int; req: Int; result: EtcdReply }
  | { type: 'timeout'; now: Int }
  | { type: 'release'; now: Int }
  | { type: 'proclaim'; now: Int; value: string }

/** An etcd command (an RPC) or event. */
export type EtcdOutput = { command: { type: string; [field: string]: unknown } } | { event: { type: string; [field: string]: unknown } }

/** A held etcd lock (the `lock` getter). */
export interface EtcdLockInfo {
  key: string
  lease: string
  token: Int
  acquired_at: number
  valid_until: number
}

/** An election's leader as the observer sees it. */
export interface EtcdLeader {
  key: string
  revision: number
  lease: string | null
  value: string
}

/** A Lua script as the core defines it. */
export interface ScriptInfo {
  name: ScriptName | 'fenced_set'
  sha1: string
  source: string
}
