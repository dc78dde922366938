//! The vocabulary's JSON shapes, one declaration per type, field by field as
//! the `serde` attributes on the types say (the same keys, defaults, tags and
//! refusals of unknown keys). The conformance vectors check both codecs against
//! each other (`core/tests/conformance.rs`, `core/tests/lean_json.rs`).

use alloc::string::String;
use alloc::vec::Vec;

use super::{
    command_or_event, decimal_string, fields, names, record, required, tagged, transparent, write,
    FromJson, JsonError, Number, Record, ToJson, Value,
};
use crate::backoff::{Backoff, RetryPolicy};
use crate::fence::FencingToken;
use crate::types::{Millis, NodeId, RequestId};

transparent!(Millis(u64));
transparent!(NodeId(u16));
transparent!(RequestId(u64));
transparent!(FencingToken(u64));

names!(Backoff {
    Fixed = "fixed",
    Exponential = "exponential",
});

// `serde(default)` on the container: a key left out keeps the default policy's value.
record!(RetryPolicy, true {
    max_attempts: { RetryPolicy::default().max_attempts },
    base_delay: { RetryPolicy::default().base_delay },
    max_delay: { RetryPolicy::default().max_delay },
    backoff: { RetryPolicy::default().backoff },
    jitter: { RetryPolicy::default().jitter },
});

mod redlock {
    use super::*;
    use crate::redlock::config::{default_drift_ppm, default_namespace, default_true};
    use crate::redlock::{
        AcquireArgs, AcquireFailure, AcquireStats, AttemptFailure, Command, Eval, Event,
        ExtendFailure, Input, Lease, LostReason, NodeErrorKind, NodeReply, Output, RedlockConfig,
        ReleaseOutcome, Script, State,
    };

    record!(RedlockConfig, true {
        nodes: req,
        ttl: req,
        drift_ppm: { default_drift_ppm() },
        node_timeout: { None },
        retry: { RetryPolicy::default() },
        rng_seed: { 0 },
        auto_extend: { false },
        fencing: { default_true() },
        namespace: { default_namespace() },
    });

    record!(AcquireArgs, true {
        now: req,
        resources: req,
        value: req,
        timeout: { None },
    });

    tagged!(Input, true {
        "reply" => Reply { now: req, req: req, node: skip_none, result: req },
        "timeout" => Timeout { now: req },
        "extend" => Extend { now: req },
        "release" => Release { now: req },
    });

    tagged!(NodeReply, true {
        "int" => Int { value: req },
        "nil" => Nil {},
        "text" => Text { value: req },
        "array" => Array { items: req },
        "error" => Error { kind: req, message: { String::new() } },
    });

    names!(NodeErrorKind {
        Timeout = "timeout",
        Connection = "connection",
        Server = "server",
        Protocol = "protocol",
    });

    tagged!(Command, false {
        "eval" => Eval(Eval),
    });

    record!(Eval, false {
        req: req,
        node: req,
        script: req,
        keys: req,
        args: req,
    });

    names!(Script {
        Acquire = "acquire",
        Extend = "extend",
        Release = "release",
        Fence = "fence",
    });

    record!(Lease, false {
        resources: req,
        value: req,
        acquired_at: req,
        valid_until: req,
        fencing_token: req,
    });

    record!(AcquireStats, false {
        latency: req,
        attempts: req,
        contended: req,
    });

    names!(AttemptFailure {
        NoQuorum = "no_quorum",
        FenceUnconfirmed = "fence_unconfirmed",
        Deadline = "deadline",
    });

    names!(AcquireFailure {
        AttemptsExhausted = "attempts_exhausted",
        Deadline = "deadline",
        Cancelled = "cancelled",
    });

    names!(ExtendFailure { NoQuorum = "no_quorum" });

    names!(LostReason {
        Expired = "expired",
        ExtensionFailed = "extension_failed",
        Rejected = "rejected",
    });

    names!(ReleaseOutcome {
        Released = "released",
        AlreadyExpired = "already_expired",
        HeldByOther = "held_by_other",
        QuorumUnreachable = "quorum_unreachable",
    });

    tagged!(Event, false {
        "node_error" => NodeError { req: req, node: req, kind: req, message: req },
        "attempt_failed" => AttemptFailed {
            attempt: req,
            reason: req,
            granted: req,
            conflicts: req,
            errors: req,
            retry_at: req
        },
        "acquired" => Acquired { lease: req, stats: req },
        "acquire_failed" => AcquireFailed { reason: req, stats: req },
        "extended" => Extended { valid_until: req },
        "extend_failed" => ExtendFailed { reason: req, valid_until: req, retry_at: req },
        "expiry_warning" => ExpiryWarning { valid_until: req },
        "lost" => Lost { reason: req, held_for: req },
        "released" => Released { outcome: req, held_for: req },
    });

    command_or_event!(Output);

    names!(State {
        Acquiring = "acquiring",
        Retrying = "retrying",
        Held = "held",
        Extending = "extending",
        Lost = "lost",
        Releasing = "releasing",
        Released = "released",
        Failed = "failed",
    });
}

mod etcd {
    use super::*;
    use crate::etcd::config::default_drift_ppm;
    use crate::etcd::{
        AcquireFailure, AcquireStats, Command, Compare, ElectionArgs, ErrorKind, EtcdConfig, Event,
        EventKind, Input, KeyValue, Leader, LeaseId, LockInfo, LostReason, MutexArgs, ObserveArgs,
        ObserveFailure, Op, OpResponse, Output, RangeRequest, ReleaseOutcome, Reply, Sort,
        SortOrder, SortTarget, State, WaitMode, WatchEvent,
    };

    decimal_string!(LeaseId);

    tagged!(WaitMode, true {
        "watch" => Watch { recheck: { None } },
        "poll" => Poll { interval: req },
    });

    record!(EtcdConfig, true {
        ttl_secs: req,
        drift_ppm: { default_drift_ppm() },
        request_timeout: { None },
        wait: { WaitMode::default() },
        retry: { RetryPolicy::default() },
        rng_seed: { 0 },
    });

    record!(MutexArgs, true {
        now: req,
        name: req,
        timeout: { None },
        try_lock: { false },
    });

    record!(ElectionArgs, true {
        now: req,
        name: req,
        value: req,
        timeout: { None },
    });

    record!(ObserveArgs, true {
        now: req,
        name: req,
        follow: { false },
    });

    tagged!(Input, true {
        "reply" => Reply { now: req, req: req, result: req },
        "timeout" => Timeout { now: req },
        "release" => Release { now: req },
        "proclaim" => Proclaim { now: req, value: req },
    });

    names!(SortOrder {
        Ascend = "ascend",
        Descend = "descend",
    });

    names!(SortTarget { Create = "create" });

    record!(Sort, true {
        target: req,
        order: req,
    });

    record!(RangeRequest, true {
        key: req,
        range_end: { None },
        limit: { 0 },
        sort: { None },
        max_create_revision: { None },
    });

    tagged!(Compare, true {
        "create_revision" => CreateRevision { key: req, revision: req },
    });

    tagged!(Op, true {
        "put" => Put { key: req, value: req, lease: req },
        "range" => Range(RangeRequest),
        "delete_range" => DeleteRange { key: req },
    });

    tagged!(Command, true {
        "lease_grant" => LeaseGrant { req: req, ttl: req },
        "lease_keep_alive" => LeaseKeepAlive { req: req, lease: req },
        "lease_revoke" => LeaseRevoke { req: req, lease: req },
        "txn" => Txn { req: req, compare: req, success: req, failure: req },
        "range" => Range { req: req, range: req },
        "watch" => Watch { req: req, key: req, range_end: req, start_revision: req },
        "cancel_watch" => CancelWatch { watch: req },
    });

    record!(KeyValue, true {
        key: req,
        create_revision: req,
        mod_revision: { 0 },
        version: { 0 },
        lease: { None },
        value: { String::new() },
    });

    tagged!(OpResponse, true {
        "range" => Range { kvs: { Vec::new() } },
        "put" => Put {},
        "delete_range" => DeleteRange { deleted: { 0 } },
    });

    names!(EventKind {
        Put = "put",
        Delete = "delete",
    });

    record!(WatchEvent, true {
        kind ["type"]: req,
        kv: req,
    });

    names!(ErrorKind {
        Timeout = "timeout",
        Connection = "connection",
        Server = "server",
        LeaseNotFound = "lease_not_found",
        Protocol = "protocol",
    });

    tagged!(Reply, true {
        "lease_granted" => LeaseGranted { lease: req, ttl: req },
        "lease_kept_alive" => LeaseKeptAlive { ttl: req },
        "lease_revoked" => LeaseRevoked {},
        "txn" => Txn { succeeded: { false }, revision: req, responses: { Vec::new() } },
        "range" => Range { revision: req, kvs: { Vec::new() } },
        "watch" => Watch { revision: req, events: req },
        "watch_compacted" => WatchCompacted { compact_revision: req },
        "watch_canceled" => WatchCanceled { reason: { String::new() } },
        "error" => Error { kind: req, message: { String::new() } },
    });

    record!(LockInfo, false {
        key: req,
        lease: req,
        token: req,
        acquired_at: req,
        valid_until: req,
    });

    record!(Leader, false {
        key: req,
        revision: req,
        lease: req,
        value: req,
    });

    record!(AcquireStats, false {
        latency: req,
        retries: req,
        queued: req,
    });

    names!(AcquireFailure {
        Locked = "locked",
        Deadline = "deadline",
        Cancelled = "cancelled",
        AttemptsExhausted = "attempts_exhausted",
        Lost = "lost",
    });

    names!(LostReason {
        Expired = "expired",
        Revoked = "revoked",
        KeyDeleted = "key_deleted",
    });

    names!(ReleaseOutcome {
        Released = "released",
        AlreadyExpired = "already_expired",
        Unreachable = "unreachable",
    });

    names!(ObserveFailure {
        AttemptsExhausted = "attempts_exhausted",
        Lost = "lost",
    });

    tagged!(Event, false {
        "request_error" => RequestError { req: req, kind: req, message: req },
        "lease_granted" => LeaseGranted { lease: req, ttl: req, valid_until: req },
        "kept_alive" => KeptAlive { valid_until: req },
        "acquired" => Acquired { lock: req, stats: req },
        "acquire_failed" => AcquireFailed { reason: req, stats: req },
        "expiry_warning" => ExpiryWarning { valid_until: req },
        "proclaimed" => Proclaimed { value: req },
        "proclaim_failed" => ProclaimFailed { value: req },
        "lost" => Lost { reason: req, held_for: req },
        "released" => Released { outcome: req, held_for: req },
        "leader" => Leader { leader: req },
        "observe_failed" => ObserveFailed { reason: req },
    });

    command_or_event!(Output);

    names!(State {
        Acquiring = "acquiring",
        Waiting = "waiting",
        Held = "held",
        Proclaiming = "proclaiming",
        Lost = "lost",
        Releasing = "releasing",
        Released = "released",
        Failed = "failed",
        Observing = "observing",
        Done = "done",
    });
}

mod zookeeper {
    use super::*;
    use crate::json::write::{key, put};
    use crate::json::write_decimal;
    use crate::zookeeper::config::default_drift_ppm;
    use crate::zookeeper::{
        AcquireFailure, AcquireStats, Command, CreateMode, ElectionArgs, ErrorKind, Event, Input,
        LockArgs, LockInfo, LostReason, Output, ReleaseOutcome, Reply, SessionId, Stat, State,
        WatchEventKind, ZooKeeperConfig, Zxid,
    };

    decimal_string!(SessionId);
    decimal_string!(Zxid);

    record!(ZooKeeperConfig, true {
        drift_ppm: { default_drift_ppm() },
        request_timeout: { None },
        recheck: { None },
        retry: { RetryPolicy::default() },
        rng_seed: { 0 },
    });

    record!(LockArgs, true {
        now: req,
        path: req,
        guid: req,
        session: req,
        session_timeout: req,
        value: { String::new() },
        timeout: { None },
        try_lock: { false },
    });

    record!(ElectionArgs, true {
        now: req,
        path: req,
        guid: req,
        session: req,
        session_timeout: req,
        value: req,
        timeout: { None },
    });

    record!(Stat, true {
        czxid: req,
        ephemeral_owner: req,
    });

    names!(WatchEventKind {
        Created = "created",
        Deleted = "deleted",
        DataChanged = "data_changed",
        ChildrenChanged = "children_changed",
    });

    tagged!(Input, true {
        "reply" => Reply { now: req, req: req, result: req },
        "watch" => Watch { now: req, req: req, event: req },
        "disconnected" => Disconnected { now: req },
        "connected" => Connected { now: req, session: req },
        "session_expired" => SessionExpired { now: req },
        "timeout" => Timeout { now: req },
        "release" => Release { now: req },
    });

    names!(CreateMode {
        EphemeralSequential = "ephemeral_sequential",
    });

    tagged!(Command, true {
        "create" => Create { req: req, path: req, data: req, mode: req },
        "ensure_path" => EnsurePath { req: req, path: req },
        "get_children" => GetChildren { req: req, path: req },
        "get_data" => GetData { req: req, path: req, watch: req },
        "exists" => Exists { req: req, path: req, watch: req },
        "delete" => Delete { req: req, path: req },
    });

    names!(ErrorKind {
        NoNode = "no_node",
        NodeExists = "node_exists",
        Connection = "connection",
        SessionExpired = "session_expired",
        Timeout = "timeout",
        Server = "server",
        Protocol = "protocol",
    });

    tagged!(Reply, true {
        "created" => Created { path: req, stat: { None } },
        "ok" => Ok {},
        "children" => Children { children: req },
        "stat" => Stat { stat: req },
        "error" => Error { kind: req, message: { String::new() } },
    });

    // The token is a czxid: a decimal string, like every zxid.
    impl Record for LockInfo {
        fn from_fields(value: &Value<'_>, tag: bool) -> Result<Self, JsonError> {
            const KEYS: &[&str] = &["path", "token", "session", "acquired_at", "valid_until"];
            let mut slots = [None; KEYS.len()];
            fields(value, KEYS, &mut slots, false, tag)?;
            let [path, token, session, acquired_at, valid_until] = slots;
            Ok(LockInfo {
                path: required(path, "path")?,
                token: FencingToken(required::<Zxid>(token, "token")?.0),
                session: required(session, "session")?,
                acquired_at: required(acquired_at, "acquired_at")?,
                valid_until: required(valid_until, "valid_until")?,
            })
        }

        fn write_fields(&self, out: &mut String) {
            put(out, "path", &self.path);
            key(out, "token");
            write_decimal(out, self.token.0);
            put(out, "session", &self.session);
            put(out, "acquired_at", &self.acquired_at);
            put(out, "valid_until", &self.valid_until);
        }
    }

    impl FromJson for LockInfo {
        fn from_json_value(value: &Value<'_>) -> Result<Self, JsonError> {
            Self::from_fields(value, false)
        }
    }

    impl ToJson for LockInfo {
        fn write_json(&self, out: &mut String) {
            out.push('{');
            self.write_fields(out);
            out.push('}');
        }
    }

    record!(AcquireStats, false {
        latency: req,
        retries: req,
        queued: req,
    });

    names!(AcquireFailure {
        Locked = "locked",
        Deadline = "deadline",
        Cancelled = "cancelled",
        AttemptsExhausted = "attempts_exhausted",
        Lost = "lost",
    });

    names!(LostReason {
        Expired = "expired",
        SessionExpired = "session_expired",
        NodeDeleted = "node_deleted",
        OwnerMismatch = "owner_mismatch",
    });

    names!(ReleaseOutcome {
        Released = "released",
        AlreadyExpired = "already_expired",
    });

    tagged!(Event, false {
        "request_error" => RequestError { req: req, kind: req, message: req },
        "node_created" => NodeCreated { path: req },
        "acquired" => Acquired { lock: req, stats: req },
        "acquire_failed" => AcquireFailed { reason: req, stats: req },
        "checked" => Checked { valid_until: req },
        "uncertain" => Uncertain { valid_until: req },
        "expiry_warning" => ExpiryWarning { valid_until: req },
        "lost" => Lost { reason: req, held_for: req },
        "released" => Released { outcome: req, held_for: req },
    });

    command_or_event!(Output);

    names!(State {
        Acquiring = "acquiring",
        Waiting = "waiting",
        Held = "held",
        Uncertain = "uncertain",
        Lost = "lost",
        Releasing = "releasing",
        Released = "released",
        Failed = "failed",
    });
}

mod advisory {
    use super::*;
    use crate::advisory::{
        AcquireFailure, AcquireStats, AdvisoryConfig, Command, ErrorKind, Event, Input, LockArgs,
        LockInfo, LostReason, Output, ReleaseOutcome, Reply, SqlValue, State, Statement,
    };

    record!(AdvisoryConfig, true {
        request_timeout: { None },
        check_interval: { None },
        retry: { RetryPolicy::default() },
        rng_seed: { 0 },
    });

    record!(LockArgs, true {
        now: req,
        name: req,
        timeout: { None },
        try_lock: { false },
    });

    // `null`, a boolean, an integer (at most 2^63 - 1) or a string.
    impl FromJson for SqlValue {
        fn from_json_value(value: &Value<'_>) -> Result<Self, JsonError> {
            match value {
                Value::Null => Ok(SqlValue::Null),
                Value::Bool(b) => Ok(SqlValue::Bool(*b)),
                Value::Number(Number::U64(_) | Number::I64(_)) => {
                    i64::from_json_value(value).map(SqlValue::Int)
                }
                Value::String(text) => Ok(SqlValue::Text(String::from(&**text))),
                _ => Err(JsonError::new(
                    "expected null, a boolean, an integer or a string",
                )),
            }
        }
    }

    impl ToJson for SqlValue {
        fn write_json(&self, out: &mut String) {
            match self {
                SqlValue::Null => out.push_str("null"),
                SqlValue::Bool(b) => b.write_json(out),
                SqlValue::Int(i) => write::write_i64(out, *i),
                SqlValue::Text(text) => write::write_str(out, text),
            }
        }
    }

    names!(Statement {
        TryLock = "try_lock",
        Fence = "fence",
        Setup = "setup",
        Check = "check",
        Unlock = "unlock",
    });

    tagged!(Command, true {
        "query" => Query { req: req, statement: req, sql: req, params: req },
    });

    names!(ErrorKind {
        Connection = "connection",
        Server = "server",
        Timeout = "timeout",
        Protocol = "protocol",
    });

    tagged!(Reply, true {
        "row" => Row { values: req },
        "done" => Done {},
        "error" => Error { kind: req, code: { String::new() }, message: { String::new() } },
    });

    tagged!(Input, true {
        "reply" => Reply { now: req, req: req, result: req },
        "session_lost" => SessionLost { now: req },
        "timeout" => Timeout { now: req },
        "release" => Release { now: req },
    });

    record!(LockInfo, false {
        name: req,
        token: req,
        pid: req,
        acquired_at: req,
    });

    record!(AcquireStats, false {
        latency: req,
        attempts: req,
        contended: req,
    });

    names!(AcquireFailure {
        Locked = "locked",
        Deadline = "deadline",
        Cancelled = "cancelled",
        AttemptsExhausted = "attempts_exhausted",
        AlreadyHeld = "already_held",
        SessionLost = "session_lost",
        SessionNotPinned = "session_not_pinned",
    });

    names!(LostReason {
        SessionLost = "session_lost",
        NotHeld = "not_held",
        SessionNotPinned = "session_not_pinned",
    });

    names!(ReleaseOutcome {
        Released = "released",
        NotHeld = "not_held",
        SessionLost = "session_lost",
        SessionNotPinned = "session_not_pinned",
        Unconfirmed = "unconfirmed",
    });

    tagged!(Event, false {
        "request_error" => RequestError { req: req, kind: req, code: req, message: req },
        "busy" => Busy { attempt: req, retry_at: req },
        "acquired" => Acquired { lock: req, stats: req },
        "acquire_failed" => AcquireFailed { reason: req, stats: req },
        "checked" => Checked {},
        "uncertain" => Uncertain {},
        "lost" => Lost { reason: req, held_for: req },
        "released" => Released { outcome: req, held_for: req },
    });

    command_or_event!(Output);

    names!(State {
        Acquiring = "acquiring",
        Waiting = "waiting",
        Held = "held",
        Uncertain = "uncertain",
        Lost = "lost",
        Releasing = "releasing",
        Released = "released",
        Failed = "failed",
    });
}
