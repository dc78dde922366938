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

// ----- etcd (machines etcd_mutex, etcd_election, etcd_observer) -------------------------

/** `config` of the etcd machines. */
export interface EtcdConfig {
  /** Lease TTL to request, seconds (1 to 2147483). */
  ttl_secs: number
  drift_ppm?: number
  /** Per-request timeout, ms. Default: a third of the validity window, at most 2000. */
  request_timeout?: number | null
  wait?: { type: 'watch'; recheck?: number | null } | { type: 'poll'; interval: number }
  retry?: RetryConfig
  rng_seed?: Int
}

export interface EtcdMutexInit {
  now: Int
  name: string
  timeout?: Int | null
  try_lock?: boolean
}
export interface EtcdElectionInit {
  now: Int
  name: string
  value: string
  timeout?: Int | null
}
export interface EtcdObserverInit {
  now: Int
  name: string
  follow?: boolean
}

export interface EtcdKeyValue {
  key: string
  create_revision: number
  mod_revision?: number
  version?: number
  /** Lease id (decimal string), `null`: none. */
  lease?: string | null
  value?: string
}

export type EtcdErrorKind = 'timeout' | 'connection' | 'server' | 'lease_not_found' | 'protocol'

/** What etcd answered (the machines' reply vocabulary). */
export type EtcdReply =
  | { type: 'lease_granted'; lease: string; ttl: number }
  | { type: 'lease_kept_alive'; ttl: number }
  | { type: 'lease_revoked' }
  | { type: 'txn'; succeeded?: boolean; revision: number; responses?: ({ type: 'range'; kvs?: EtcdKeyValue[] } | { type: 'put' } | { type: 'delete_range'; deleted?: number })[] }
  | { type: 'range'; revision: number; kvs?: EtcdKeyValue[] }
  | { type: 'watch'; revision: number; events: { type: 'put' | 'delete'; kv: EtcdKeyValue }[] }
  | { type: 'watch_compacted'; compact_revision: number }
  | { type: 'watch_canceled'; reason?: string }
  | { type: 'error'; kind: EtcdErrorKind; message?: string }

export type EtcdInput =
  | { type: 'reply'; now: Int; req: Int; result: EtcdReply }
  | { type: 'timeout'; now: Int }
  | { type: 'release'; now: Int }
  | { type: 'proclaim'; now: Int; value: string }

/** An etcd RPC (`lease_grant`, `lease_keep_alive`, `lease_revoke`, `txn`, `range`, `watch`, `cancel_watch`). */
export interface EtcdCommand {
  type: 'lease_grant' | 'lease_keep_alive' | 'lease_revoke' | 'txn' | 'range' | 'watch' | 'cancel_watch'
  req?: number
  [field: string]: unknown
}

/** The held lock (`lock` getter; also in `acquired`). */
export interface EtcdLockInfo {
  key: string
  lease: string
  token: Int
  acquired_at: number
  valid_until: number
}

export interface EtcdLeader {
  key: string
  revision: number
  lease: string | null
  value: string
}

export type EtcdAcquireFailure = 'locked' | 'deadline' | 'cancelled' | 'attempts_exhausted' | 'lost'
export type EtcdLostReason = 'expired' | 'revoked' | 'key_deleted'

export type EtcdEvent =
  | { type: 'request_error'; req: number; kind: EtcdErrorKind; message: string }
  | { type: 'lease_granted'; lease: string; ttl: number; valid_until: number }
  | { type: 'kept_alive'; valid_until: number }
  | { type: 'acquired'; lock: EtcdLockInfo; stats: { latency: number; retries: number; queued: boolean } }
  | { type: 'acquire_failed'; reason: EtcdAcquireFailure; stats: { latency: number; retries: number; queued: boolean } }
  | { type: 'expiry_warning'; valid_until: number }
  | { type: 'proclaimed'; value: string }
  | { type: 'proclaim_failed'; value: string }
  | { type: 'lost'; reason: EtcdLostReason; held_for: number | null }
  | { type: 'released'; outcome: 'released' | 'already_expired' | 'unreachable'; held_for: number }
  | { type: 'leader'; leader: EtcdLeader | null }
  | { type: 'observe_failed'; reason: 'attempts_exhausted' | 'lost' }

export type EtcdOutput = { command: EtcdCommand } | { event: EtcdEvent }

/** One etcd JSON-gateway request: `POST path` with the JSON text `body`. */
export interface GatewayRequest {
  path: string
  body: string
}

// ----- ZooKeeper (machines zookeeper_lock, zookeeper_election) -------------------------

export interface ZooKeeperConfig {
  drift_ppm?: number
  request_timeout?: number | null
  recheck?: number | null
  retry?: RetryConfig
  rng_seed?: Int
}

export interface ZooKeeperLockInit {
  now: Int
  path: string
  guid: string
  /** The client's session id (decimal string). */
  session: string
  session_timeout: number
  value?: string
  timeout?: Int | null
  try_lock?: boolean
}

export interface ZooKeeperElectionInit {
  now: Int
  path: string
  guid: string
  session: string
  session_timeout: number
  value: string
  timeout?: Int | null
}

/** `czxid` and `ephemeral_owner` as decimal strings. */
export interface ZooKeeperStat {
  czxid: string
  ephemeral_owner: string
}

export type ZooKeeperErrorKind = 'no_node' | 'node_exists' | 'connection' | 'session_expired' | 'timeout' | 'server' | 'protocol'

export type ZooKeeperReply =
  | { type: 'created'; path: string; stat?: ZooKeeperStat | null }
  | { type: 'ok' }
  | { type: 'children'; children: string[] }
  | { type: 'stat'; stat: ZooKeeperStat }
  | { type: 'error'; kind: ZooKeeperErrorKind; message?: string }

export type ZooKeeperInput =
  | { type: 'reply'; now: Int; req: Int; result: ZooKeeperReply }
  | { type: 'watch'; now: Int; req: Int; event: 'created' | 'deleted' | 'data_changed' | 'children_changed' }
  | { type: 'disconnected'; now: Int }
  | { type: 'connected'; now: Int; session: string }
  | { type: 'session_expired'; now: Int }
  | { type: 'timeout'; now: Int }
  | { type: 'release'; now: Int }

export type ZooKeeperCommand =
  | { type: 'create'; req: number; path: string; data: string; mode: 'ephemeral_sequential' }
  | { type: 'ensure_path'; req: number; path: string }
  | { type: 'get_children'; req: number; path: string }
  | { type: 'get_data'; req: number; path: string; watch: true }
  | { type: 'exists'; req: number; path: string; watch: false }
  | { type: 'delete'; req: number; path: string }

export interface ZooKeeperLockInfo {
  path: string
  /** czxid, decimal string. */
  token: string
  session: string
  acquired_at: number
  valid_until: number
}

export type ZooKeeperAcquireFailure = 'locked' | 'deadline' | 'cancelled' | 'attempts_exhausted'
export type ZooKeeperLostReason = 'expired' | 'session_expired' | 'node_deleted' | 'owner_mismatch'

export type ZooKeeperEvent =
  | { type: 'request_error'; req: number; kind: ZooKeeperErrorKind; message: string }
  | { type: 'node_created'; path: string }
  | { type: 'acquired'; lock: ZooKeeperLockInfo; stats: { latency: number; retries: number; queued: boolean } }
  | { type: 'acquire_failed'; reason: ZooKeeperAcquireFailure; stats: { latency: number; retries: number; queued: boolean } }
  | { type: 'checked'; valid_until: number }
  | { type: 'uncertain'; valid_until: number }
  | { type: 'expiry_warning'; valid_until: number }
  | { type: 'lost'; reason: ZooKeeperLostReason; held_for: number | null }
  | { type: 'released'; outcome: 'released' | 'already_expired'; held_for: number }

export type ZooKeeperOutput = { command: ZooKeeperCommand } | { event: ZooKeeperEvent }

// ----- PostgreSQL (machine advisory_lock) ----------------------------------------------

export interface AdvisoryConfig {
  request_timeout?: number | null
  check_interval?: number | null
  retry?: RetryConfig
  rng_seed?: Int
}

export interface AdvisoryInit {
  now: Int
  name: string
  timeout?: Int | null
  try_lock?: boolean
}

export type SqlValue = null | boolean | number | string

export type AdvisoryReply =
  | { type: 'row'; values: SqlValue[] }
  | { type: 'done' }
  | { type: 'error'; kind: 'connection' | 'server' | 'timeout' | 'protocol'; code?: string; message?: string }

export type AdvisoryInput =
  | { type: 'reply'; now: Int; req: Int; result: AdvisoryReply }
  | { type: 'session_lost'; now: Int }
  | { type: 'timeout'; now: Int }
  | { type: 'release'; now: Int }

export interface AdvisoryCommand {
  type: 'query'
  req: number
  statement: 'try_lock' | 'fence' | 'setup' | 'check' | 'unlock'
  sql: string
  params: SqlValue[]
}

export interface AdvisoryLockInfo {
  name: string
  token: Int
  pid: number
  acquired_at: number
}

export type AdvisoryAcquireFailure =
  | 'locked'
  | 'deadline'
  | 'cancelled'
  | 'attempts_exhausted'
  | 'already_held'
  | 'session_lost'
  | 'session_not_pinned'
export type AdvisoryLostReason = 'session_lost' | 'not_held' | 'session_not_pinned'
export type AdvisoryReleaseOutcome = 'released' | 'not_held' | 'session_lost' | 'session_not_pinned' | 'unconfirmed'

export type AdvisoryEvent =
  | { type: 'request_error'; req: number; kind: string; code: string; message: string }
  | { type: 'busy'; attempt: number; retry_at: number }
  | { type: 'acquired'; lock: AdvisoryLockInfo; stats: { latency: number; attempts: number; contended: number } }
  | { type: 'acquire_failed'; reason: AdvisoryAcquireFailure; stats: { latency: number; attempts: number; contended: number } }
  | { type: 'checked' }
  | { type: 'uncertain' }
  | { type: 'lost'; reason: AdvisoryLostReason; held_for: number }
  | { type: 'released'; outcome: AdvisoryReleaseOutcome; held_for: number }

export type AdvisoryOutput = { command: AdvisoryCommand } | { event: AdvisoryEvent }

/** Why any high-level acquire failed (the machine's reason). */
export type AnyAcquireFailure = AcquireFailure | EtcdAcquireFailure | ZooKeeperAcquireFailure | AdvisoryAcquireFailure
/** Why any lease was lost (the machine's reason). */
export type AnyLostReason = LostReason | EtcdLostReason | ZooKeeperLostReason | AdvisoryLostReason
