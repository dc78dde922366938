//! What flows between a host and the etcd machines ([`super::Mutex`],
//! [`super::Election`], [`super::Observer`]): inputs, commands (etcd RPCs),
//! the server's replies and events. Their JSON form (with the `serde` feature) is
//! the conformance vocabulary: `{"type": "snake_case", ...}`.
//!
//! **64-bit numbers in JSON.** Identifiers drawn from the whole 64-bit space (lease
//! ids: etcd builds them from the member id and a timestamp, so they exceed 2^53)
//! are decimal **strings** ([`LeaseId`]). Counters (revisions, fencing tokens,
//! TTLs, times) are JSON **integers**; they stay far below 2^53 in practice and the
//! JSON-gateway decoder rejects a revision above 2^53 - 1, so JavaScript numbers
//! carry every counter exactly.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::fence::FencingToken;
use crate::types::decimal_id;
use crate::types::{Millis, RequestId};

decimal_id!(
    /// An etcd lease id. Never 0 (etcd's "no lease"), at most `i64::MAX` (etcd's
    /// lease ids are positive int64). JSON: a decimal string, e.g. `"7587862243934128390"`.
    LeaseId,
    "lease id"
);

impl LeaseId {
    /// The lock-key suffix Go's `concurrency` package uses: `fmt.Sprintf("%x", id)`,
    /// lowercase hex without padding.
    #[must_use]
    pub fn hex(self) -> String {
        alloc::format!("{:x}", self.0)
    }

    /// Whether etcd could have issued this id (`1..=i64::MAX`).
    #[must_use]
    pub const fn is_valid(self) -> bool {
        self.0 != 0 && self.0 <= i64::MAX as u64
    }
}

/// Something the host tells an etcd machine. Every input carries the host's
/// monotonic time, which must never go backwards.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum Input {
    /// The reply to a command this machine emitted. A watch is answered once: by
    /// the first stream message that carries events, or by its end (compaction,
    /// cancellation, error).
    Reply {
        /// Time the reply arrived.
        now: Millis,
        /// Request id of the command.
        req: RequestId,
        /// What etcd answered, or why it could not.
        result: Reply,
    },
    /// The host's timer fired. Early or spurious timeouts are no-ops.
    Timeout {
        /// Current time.
        now: Millis,
    },
    /// End the operation: unlock / resign a held (or lost) lock, cancel an
    /// acquisition or campaign, stop observing.
    Release {
        /// Current time.
        now: Millis,
    },
    /// Election only: set the leader's value (guarded by our key's create revision).
    Proclaim {
        /// Current time.
        now: Millis,
        /// The new value.
        value: String,
    },
}

impl Input {
    /// The time carried by the input.
    #[must_use]
    pub const fn now(&self) -> Millis {
        match self {
            Input::Reply { now, .. }
            | Input::Timeout { now }
            | Input::Release { now }
            | Input::Proclaim { now, .. } => *now,
        }
    }
}

/// Sort order of a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum SortOrder {
    /// Lowest first.
    Ascend,
    /// Highest first.
    Descend,
}

/// What a range is sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum SortTarget {
    /// The key's create revision.
    Create,
}

/// How a range is sorted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct Sort {
    /// Sort by.
    pub target: SortTarget,
    /// Direction.
    pub order: SortOrder,
}

/// An etcd `RangeRequest` (only the fields the machines use).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct RangeRequest {
    /// First key (or the only key when `range_end` is `null`).
    pub key: Arc<str>,
    /// End of the range, exclusive; for a prefix, the prefix with its last byte
    /// incremented.
    #[cfg_attr(feature = "serde", serde(default))]
    pub range_end: Option<Arc<str>>,
    /// Most keys returned; 0 for no limit.
    #[cfg_attr(feature = "serde", serde(default))]
    pub limit: u64,
    /// Sorting, if any.
    #[cfg_attr(feature = "serde", serde(default))]
    pub sort: Option<Sort>,
    /// Only keys whose create revision is at most this.
    #[cfg_attr(feature = "serde", serde(default))]
    pub max_create_revision: Option<u64>,
}

impl RangeRequest {
    /// The single key `key`.
    #[must_use]
    pub fn key(key: impl Into<Arc<str>>) -> Self {
        RangeRequest {
            key: key.into(),
            range_end: None,
            limit: 0,
            sort: None,
            max_create_revision: None,
        }
    }

    /// Every key under `name + "/"` (to `name + "0"`, the prefix with its last byte
    /// incremented): a lock's or an election's queue.
    #[must_use]
    pub fn under(name: &str) -> Self {
        RangeRequest {
            key: Arc::from(alloc::format!("{name}/")),
            range_end: Some(Arc::from(alloc::format!("{name}0"))),
            limit: 0,
            sort: None,
            max_create_revision: None,
        }
    }

    /// The oldest key of the queue between `prefix` (`name/`) and `range_end`
    /// (`name0`): the holder of a lock, the leader of an election.
    pub(crate) fn oldest_in(prefix: &Arc<str>, range_end: &Arc<str>) -> Self {
        RangeRequest {
            key: prefix.clone(),
            range_end: Some(range_end.clone()),
            limit: 1,
            sort: Some(Sort {
                target: SortTarget::Create,
                order: SortOrder::Ascend,
            }),
            max_create_revision: None,
        }
    }

    /// The same range sorted by create revision in `order`.
    #[must_use]
    pub fn by_create_revision(mut self, order: SortOrder) -> Self {
        self.sort = Some(Sort {
            target: SortTarget::Create,
            order,
        });
        self
    }

    /// The same range with at most `limit` keys.
    #[must_use]
    pub fn with_limit(mut self, limit: u64) -> Self {
        self.limit = limit;
        self
    }
}

/// One comparison of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum Compare {
    /// `create_revision(key) == revision` (0: the key does not exist).
    CreateRevision {
        /// Key compared.
        key: Arc<str>,
        /// Expected create revision.
        revision: u64,
    },
}

/// One operation of a transaction branch.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum Op {
    /// Put `value` at `key`, attached to `lease`.
    Put {
        /// Key.
        key: Arc<str>,
        /// Value.
        value: Arc<str>,
        /// Lease the key is attached to (`null`: none).
        lease: Option<LeaseId>,
    },
    /// A range.
    Range(RangeRequest),
    /// Delete one key.
    DeleteRange {
        /// Key.
        key: Arc<str>,
    },
}

/// Something an etcd machine asks the host to do: one etcd RPC (gRPC, or the JSON
/// gateway through [`crate::wire::etcd_gateway`]).
///
/// Unlike Redlock, etcd commands may run concurrently (a keep-alive while a watch
/// waits): the machine only emits a command once the replies it depends on are in.
/// There is one server (the cluster); the host's client picks the endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum Command {
    /// `LeaseGrant(TTL)`; reply [`Reply::LeaseGranted`].
    LeaseGrant {
        /// Request id to echo back.
        req: RequestId,
        /// Requested TTL, in seconds.
        ttl: u64,
    },
    /// One `LeaseKeepAlive` message (over the gateway: one per HTTP request);
    /// reply [`Reply::LeaseKeptAlive`].
    LeaseKeepAlive {
        /// Request id to echo back.
        req: RequestId,
        /// The lease.
        lease: LeaseId,
    },
    /// `LeaseRevoke`; reply [`Reply::LeaseRevoked`] (or a `lease_not_found` error).
    LeaseRevoke {
        /// Request id to echo back.
        req: RequestId,
        /// The lease.
        lease: LeaseId,
    },
    /// `Txn`: if every comparison holds, run `success`, else `failure`; reply
    /// [`Reply::Txn`].
    Txn {
        /// Request id to echo back.
        req: RequestId,
        /// Comparisons (all must hold).
        compare: Arc<[Compare]>,
        /// Operations when they hold.
        success: Arc<[Op]>,
        /// Operations when they do not.
        failure: Arc<[Op]>,
    },
    /// `Range`; reply [`Reply::Range`].
    Range {
        /// Request id to echo back.
        req: RequestId,
        /// The range.
        range: RangeRequest,
    },
    /// Open a watch on `key` (to `range_end`) from `start_revision`; reply once,
    /// with the first message that carries events ([`Reply::Watch`]) or with the
    /// watch's end ([`Reply::WatchCompacted`], [`Reply::WatchCanceled`], an error),
    /// then close it.
    Watch {
        /// Request id to echo back.
        req: RequestId,
        /// Key (or first key).
        key: Arc<str>,
        /// End of the range, exclusive (`null`: the key alone).
        range_end: Option<Arc<str>>,
        /// First revision to report (events at or after it are replayed).
        start_revision: u64,
    },
    /// Close the watch opened by request `watch` (abort its fetch); no reply. A
    /// reply the watch still produces is accepted and ignored.
    CancelWatch {
        /// Request id of the watch.
        watch: RequestId,
    },
}

impl Command {
    /// The request id the reply must carry (`None` for [`Command::CancelWatch`]).
    #[must_use]
    pub const fn req(&self) -> Option<RequestId> {
        match self {
            Command::LeaseGrant { req, .. }
            | Command::LeaseKeepAlive { req, .. }
            | Command::LeaseRevoke { req, .. }
            | Command::Txn { req, .. }
            | Command::Range { req, .. }
            | Command::Watch { req, .. } => Some(*req),
            Command::CancelWatch { .. } => None,
        }
    }

    /// The command's name as it appears in JSON.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Command::LeaseGrant { .. } => "lease_grant",
            Command::LeaseKeepAlive { .. } => "lease_keep_alive",
            Command::LeaseRevoke { .. } => "lease_revoke",
            Command::Txn { .. } => "txn",
            Command::Range { .. } => "range",
            Command::Watch { .. } => "watch",
            Command::CancelWatch { .. } => "cancel_watch",
        }
    }
}

/// A key-value pair as etcd returns it. Keys and values are UTF-8 here (bytes that
/// are not are replaced by U+FFFD when decoded).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// Revision of the put that created the key (never 0 for a live key).
    pub create_revision: u64,
    /// Revision of the last put.
    #[cfg_attr(feature = "serde", serde(default))]
    pub mod_revision: u64,
    /// Number of puts since creation.
    #[cfg_attr(feature = "serde", serde(default))]
    pub version: u64,
    /// Lease the key is attached to (`null`: none).
    #[cfg_attr(feature = "serde", serde(default))]
    pub lease: Option<LeaseId>,
    /// The value.
    #[cfg_attr(feature = "serde", serde(default))]
    pub value: String,
}

impl KeyValue {
    /// A key created at `create_revision` (and not modified since), no lease, empty value.
    #[must_use]
    pub fn new(key: impl Into<String>, create_revision: u64) -> Self {
        KeyValue {
            key: key.into(),
            create_revision,
            mod_revision: create_revision,
            version: 1,
            lease: None,
            value: String::new(),
        }
    }

    /// The same pair attached to `lease`.
    #[must_use]
    pub fn with_lease(mut self, lease: LeaseId) -> Self {
        self.lease = Some(lease);
        self
    }

    /// The same pair with `value`.
    #[must_use]
    pub fn with_value(mut self, value: impl Into<String>) -> Self {
        self.value = value.into();
        self
    }
}

/// The result of one operation inside a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum OpResponse {
    /// A range's keys.
    Range {
        /// Keys found (at most the range's limit).
        #[cfg_attr(feature = "serde", serde(default))]
        kvs: Vec<KeyValue>,
    },
    /// A put.
    Put,
    /// A delete.
    DeleteRange {
        /// Keys deleted.
        #[cfg_attr(feature = "serde", serde(default))]
        deleted: u64,
    },
}

/// Kind of a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum EventKind {
    /// A put (the gateway omits `type` for it).
    Put,
    /// A delete (or the key's lease expired / was revoked).
    Delete,
}

/// One watch event.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct WatchEvent {
    /// Put or delete.
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub kind: EventKind,
    /// The key after the event (for a delete: the key and the delete's revision).
    pub kv: KeyValue,
}

/// Why a request got no usable answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No reply in time (the host's own timeout, or the machine's request timeout).
    Timeout,
    /// The connection could not be made or broke.
    Connection,
    /// etcd answered with an error (unavailable, no leader, invalid argument, ...).
    Server,
    /// etcd said the lease does not exist (gRPC `NotFound`, `requested lease not
    /// found`): it expired or was revoked.
    LeaseNotFound,
    /// The reply did not have the shape the request calls for.
    Protocol,
}

impl ErrorKind {
    /// The kind's name as it appears in JSON.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connection => "connection",
            ErrorKind::Server => "server",
            ErrorKind::LeaseNotFound => "lease_not_found",
            ErrorKind::Protocol => "protocol",
        }
    }
}

/// etcd's answer to a command, as the host's client saw it. The machine interprets
/// it according to the command the request was.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum Reply {
    /// Answer to [`Command::LeaseGrant`].
    LeaseGranted {
        /// The new lease.
        lease: LeaseId,
        /// TTL the server granted, in seconds (it may raise the requested one).
        ttl: u64,
    },
    /// Answer to [`Command::LeaseKeepAlive`].
    LeaseKeptAlive {
        /// The lease's renewed TTL in seconds; 0 means the lease is gone.
        ttl: u64,
    },
    /// Answer to [`Command::LeaseRevoke`].
    LeaseRevoked,
    /// Answer to [`Command::Txn`].
    Txn {
        /// Whether the comparisons held (the gateway omits `false`).
        #[cfg_attr(feature = "serde", serde(default))]
        succeeded: bool,
        /// The response header's revision (after the transaction).
        revision: u64,
        /// One result per operation of the branch that ran.
        #[cfg_attr(feature = "serde", serde(default))]
        responses: Vec<OpResponse>,
    },
    /// Answer to [`Command::Range`].
    Range {
        /// The response header's revision.
        revision: u64,
        /// Keys found (the gateway omits an empty list).
        #[cfg_attr(feature = "serde", serde(default))]
        kvs: Vec<KeyValue>,
    },
    /// A watch message that carries events.
    Watch {
        /// The message header's revision.
        revision: u64,
        /// The events, in revision order.
        events: Vec<WatchEvent>,
    },
    /// The watch's start revision was compacted away.
    WatchCompacted {
        /// Oldest revision still available.
        compact_revision: u64,
    },
    /// The server cancelled the watch.
    WatchCanceled {
        /// Why, as the server said.
        #[cfg_attr(feature = "serde", serde(default))]
        reason: String,
    },
    /// No usable answer.
    Error {
        /// What went wrong.
        kind: ErrorKind,
        /// Details for logs.
        #[cfg_attr(feature = "serde", serde(default))]
        message: String,
    },
}

impl Reply {
    /// The reply's name as it appears in JSON.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Reply::LeaseGranted { .. } => "lease_granted",
            Reply::LeaseKeptAlive { .. } => "lease_kept_alive",
            Reply::LeaseRevoked => "lease_revoked",
            Reply::Txn { .. } => "txn",
            Reply::Range { .. } => "range",
            Reply::Watch { .. } => "watch",
            Reply::WatchCompacted { .. } => "watch_compacted",
            Reply::WatchCanceled { .. } => "watch_canceled",
            Reply::Error { .. } => "error",
        }
    }

    /// A [`Reply::Error`] of `kind`.
    #[must_use]
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Self {
        Reply::Error {
            kind,
            message: message.into(),
        }
    }
}

/// A held lock (or won election), in the host's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct LockInfo {
    /// Our key: `name + "/" + lowercase-hex(lease)`.
    pub key: Arc<str>,
    /// Our lease.
    pub lease: LeaseId,
    /// Fencing token: our key's create revision. Successive holders of one name get
    /// strictly increasing tokens. (Never the lease id: lease ids are not ordered.)
    pub token: FencingToken,
    /// When the lock was acquired.
    pub acquired_at: Millis,
    /// Stop relying on the lock at or after this time (already net of drift); moves
    /// on with every acknowledged keep-alive.
    pub valid_until: Millis,
}

/// A leader as [`super::Observer`] sees it (the first-created key under the name).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Leader {
    /// The leader's key.
    pub key: String,
    /// Its create revision (the leader's fencing token).
    pub revision: u64,
    /// Its lease (`null` if the key has none).
    pub lease: Option<LeaseId>,
    /// The value it proclaimed.
    pub value: String,
}

/// Numbers about one acquisition, carried by `acquired` and `acquire_failed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct AcquireStats {
    /// From the start to the outcome, in ms.
    pub latency: u64,
    /// Failed requests that were retried.
    pub retries: u32,
    /// Whether our key had to queue behind another (contention).
    pub queued: bool,
}

/// Why an acquisition ended without the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum AcquireFailure {
    /// Try-lock: another key holds the lock (ours was removed).
    Locked,
    /// The acquire deadline arrived (our key was removed).
    Deadline,
    /// The host released (cancelled) before the lock was acquired.
    Cancelled,
    /// Requests kept failing beyond the retry policy.
    AttemptsExhausted,
    /// Our lease or queue key was lost while we waited (see the `lost` event just
    /// before); our key was removed and the lease revoked.
    Lost,
}

/// Why a lock (or, before acquisition, our place in the queue) was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum LostReason {
    /// The local validity (from the send time of the last acknowledged grant or
    /// keep-alive, minus drift) ran out.
    Expired,
    /// etcd said the lease is gone (keep-alive TTL 0, or lease not found).
    Revoked,
    /// Our key no longer exists with our create revision (checked before
    /// `acquired`, and by a guarded proclaim).
    KeyDeleted,
}

/// How a release ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum ReleaseOutcome {
    /// Our key was deleted (by the guarded delete, or with the revoked lease).
    Released,
    /// Our key was already gone (the lease expired or the key was replaced); nothing
    /// else was touched.
    AlreadyExpired,
    /// etcd could not be reached; the key goes with the lease's TTL (keep-alives
    /// have stopped).
    Unreachable,
}

/// Why an observer stopped on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum ObserveFailure {
    /// Requests kept failing beyond the retry policy.
    AttemptsExhausted,
    /// Our lease or queue key was lost while we waited (see the `lost` event just
    /// before); our key was removed and the lease revoked.
    Lost,
}

/// Something that happened, for the host to act on or report.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "type", rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Event {
    /// A request failed or timed out (for logs and metrics; the machine retries or
    /// moves on as the state calls for).
    RequestError {
        /// The failed request.
        req: RequestId,
        /// What went wrong.
        kind: ErrorKind,
        /// Details.
        message: String,
    },
    /// Our lease exists.
    LeaseGranted {
        /// Its id.
        lease: LeaseId,
        /// TTL granted, in seconds.
        ttl: u64,
        /// Local validity.
        valid_until: Millis,
    },
    /// A keep-alive was acknowledged.
    KeptAlive {
        /// New end of validity.
        valid_until: Millis,
    },
    /// The lock is held (election: we are the leader).
    Acquired {
        /// The lock.
        lock: LockInfo,
        /// How it went.
        stats: AcquireStats,
    },
    /// The acquisition ended without the lock (terminal).
    AcquireFailed {
        /// Why.
        reason: AcquireFailure,
        /// How it went.
        stats: AcquireStats,
    },
    /// The hold has passed 80 % of the TTL without a renewal.
    ExpiryWarning {
        /// End of validity.
        valid_until: Millis,
    },
    /// Election: the guarded put of a new value was applied.
    Proclaimed {
        /// The value.
        value: String,
    },
    /// Election: the proclaim got no answer; whether it was applied is unknown.
    ProclaimFailed {
        /// The value.
        value: String,
    },
    /// The lock (or our place in the queue) is gone: stop using the protected
    /// resource. Release still cleans up.
    Lost {
        /// Why.
        reason: LostReason,
        /// From acquisition to the loss in ms (to the end of validity when it ran
        /// out); `null` when the lock was never held.
        held_for: Option<u64>,
    },
    /// The release finished (terminal).
    Released {
        /// How it ended.
        outcome: ReleaseOutcome,
        /// From acquisition to the release request (or to the loss), in ms.
        held_for: u64,
    },
    /// Observer: the leader, on the first read and whenever it changes (`null`: no
    /// leader).
    Leader {
        /// The leader.
        leader: Option<Leader>,
    },
    /// Observer: it stopped (terminal).
    ObserveFailed {
        /// Why.
        reason: ObserveFailure,
    },
}

/// The machine's next output: a command to perform or an event to report.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Output {
    /// Perform this command and deliver its reply.
    Command(Command),
    /// Report this event.
    Event(Event),
}

/// The state of an etcd machine, for getters and vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum State {
    /// Granting the lease or running the acquire transaction.
    Acquiring,
    /// Queued behind another key: finding, watching or polling the predecessor, or
    /// confirming our key.
    Waiting,
    /// The lock is held.
    Held,
    /// Held, with a proclaim in flight (election).
    Proclaiming,
    /// The lock (or queue place) was lost; release still cleans up.
    Lost,
    /// Deleting our key and revoking the lease (release, or giving up).
    Releasing,
    /// Released (terminal).
    Released,
    /// The acquisition failed or was cancelled (terminal).
    Failed,
    /// Observer: reading or following the leader.
    Observing,
    /// Observer: finished (one-shot read done, or stopped) (terminal).
    Done,
}

impl State {
    /// The state's name as it appears in JSON.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            State::Acquiring => "acquiring",
            State::Waiting => "waiting",
            State::Held => "held",
            State::Proclaiming => "proclaiming",
            State::Lost => "lost",
            State::Releasing => "releasing",
            State::Released => "released",
            State::Failed => "failed",
            State::Observing => "observing",
            State::Done => "done",
        }
    }

    /// Whether the machine will never act again (late replies are still accepted).
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(self, State::Released | State::Failed | State::Done)
    }
}
