//! What flows between a host and the ZooKeeper machines ([`super::Lock`],
//! [`super::Election`]): inputs, commands (ZooKeeper calls, one client call each),
//! the server's replies and events. Their JSON form (with the `serde` feature) is
//! the conformance vocabulary: `{"type": "snake_case", ...}`.
//!
//! **64-bit numbers in JSON.** Session ids (`server id << 56 | ...`) and zxids
//! (`epoch << 32 | counter`, so also the czxid fencing token) use the whole 64-bit
//! space: they are decimal **strings** (`"72057831385464832"`). Times, timeouts and
//! counters are integers.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::fence::FencingToken;
use crate::types::{Millis, RequestId};

use crate::types::decimal_id;

decimal_id!(
    /// A ZooKeeper session id (the client's `client_id[0]` in kazoo,
    /// `getSessionId()` in node-zookeeper-client). JSON: a decimal string. A node's
    /// `ephemeral_owner` is one; 0 means "no owner" (a persistent node).
    SessionId,
    "session id"
);

decimal_id!(
    /// A ZooKeeper transaction id (`epoch << 32 | counter`). JSON: a decimal string.
    Zxid,
    "zxid"
);

/// The fencing token as a decimal string in JSON (it is a czxid).
#[cfg(feature = "serde")]
mod token_string {
    use super::FencingToken;
    use crate::types::parse_decimal;

    pub(super) fn serialize<S: serde::Serializer>(
        token: &FencingToken,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&token.0)
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<FencingToken, D::Error> {
        let text: alloc::string::String = serde::Deserialize::deserialize(deserializer)?;
        parse_decimal(&text)
            .map(FencingToken)
            .ok_or_else(|| serde::de::Error::custom("token must be decimal digits"))
    }
}

/// The parts of a node's `Stat` the machines read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct Stat {
    /// The zxid of the transaction that created the node: the fencing token.
    pub czxid: Zxid,
    /// The session that owns the node if it is ephemeral (0: persistent).
    pub ephemeral_owner: SessionId,
}

impl Stat {
    /// A stat with these two fields.
    #[must_use]
    pub const fn new(czxid: u64, ephemeral_owner: u64) -> Self {
        Stat {
            czxid: Zxid(czxid),
            ephemeral_owner: SessionId(ephemeral_owner),
        }
    }
}

/// Kind of a watch notification (ZooKeeper's `EventType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum WatchEventKind {
    /// `NodeCreated`.
    Created,
    /// `NodeDeleted`.
    Deleted,
    /// `NodeDataChanged`.
    DataChanged,
    /// `NodeChildrenChanged`.
    ChildrenChanged,
}

/// Something the host tells a ZooKeeper machine. Every input carries the host's
/// monotonic time, which must never go backwards.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum Input {
    /// The reply to a command this machine emitted.
    Reply {
        /// Time the reply arrived.
        now: Millis,
        /// Request id of the command.
        req: RequestId,
        /// What ZooKeeper answered, or why it could not.
        result: Reply,
    },
    /// The watch set by `get_data` request `req` fired (at most once per request).
    Watch {
        /// Time the notification arrived.
        now: Millis,
        /// Request id of the `get_data` that set the watch.
        req: RequestId,
        /// What happened to the node.
        event: WatchEventKind,
    },
    /// The client lost its connection (kazoo `SUSPENDED`, ZooKeeper
    /// `Disconnected`). The session may still be alive.
    Disconnected {
        /// Current time.
        now: Millis,
    },
    /// The client is connected (again), in session `session` (kazoo `CONNECTED`,
    /// ZooKeeper `SyncConnected`). Another session than ours means ours ended.
    Connected {
        /// Current time.
        now: Millis,
        /// The client's session id now.
        session: SessionId,
    },
    /// The session expired or the client was closed (kazoo `LOST`, ZooKeeper
    /// `Expired` / `Closed`): every ephemeral node of the session is gone.
    SessionExpired {
        /// Current time.
        now: Millis,
    },
    /// The host's timer fired. Early or spurious timeouts are no-ops.
    Timeout {
        /// Current time.
        now: Millis,
    },
    /// Unlock / resign a held (or lost) lock, or cancel an acquisition.
    Release {
        /// Current time.
        now: Millis,
    },
}

impl Input {
    /// The time carried by the input.
    #[must_use]
    pub const fn now(&self) -> Millis {
        match self {
            Input::Reply { now, .. }
            | Input::Watch { now, .. }
            | Input::Disconnected { now }
            | Input::Connected { now, .. }
            | Input::SessionExpired { now }
            | Input::Timeout { now }
            | Input::Release { now } => *now,
        }
    }
}

/// How a node is created. The machines only create ephemeral sequential nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum CreateMode {
    /// `EPHEMERAL_SEQUENTIAL`: deleted with the session; ZooKeeper appends a
    /// 10-digit sequence number to the name.
    EphemeralSequential,
}

/// Something a ZooKeeper machine asks the host to do: one call on the host's
/// ZooKeeper client, in the session the machine was started with.
///
/// Commands may run concurrently (a check while a watch waits). Deliver them to
/// the client in the order they were emitted: ZooKeeper answers one session's
/// requests in order, which is what finds a lost create again.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum Command {
    /// `create(path, data, mode)`: kazoo `create(path, value, ephemeral=True,
    /// sequence=True)` (with `include_data=True` the reply carries the stat).
    /// Reply [`Reply::Created`].
    Create {
        /// Request id to echo back.
        req: RequestId,
        /// The node name before ZooKeeper appends the sequence:
        /// `<path>/<guid>-lock-`.
        path: Arc<str>,
        /// The node's data (UTF-8).
        data: Arc<str>,
        /// Always [`CreateMode::EphemeralSequential`].
        mode: CreateMode,
    },
    /// Create `path` and its missing parents as persistent nodes, empty (kazoo
    /// `ensure_path`, node-zookeeper-client `mkdirp`); a node that already exists
    /// is fine. Reply [`Reply::Ok`].
    EnsurePath {
        /// Request id to echo back.
        req: RequestId,
        /// The path.
        path: Arc<str>,
    },
    /// `getChildren(path)` **without** a watch. Reply [`Reply::Children`].
    GetChildren {
        /// Request id to echo back.
        req: RequestId,
        /// The parent.
        path: Arc<str>,
    },
    /// `getData(path, watch)`: kazoo `get(path, watch=callback)`. Reply
    /// [`Reply::Stat`], or a `no_node` error (then no watch is left behind). When
    /// the watch fires, deliver [`Input::Watch`] with this request's id.
    GetData {
        /// Request id to echo back (and to name the watch).
        req: RequestId,
        /// The node.
        path: Arc<str>,
        /// Always `true`.
        watch: bool,
    },
    /// `exists(path)` without a watch. Reply [`Reply::Stat`], or a `no_node` error
    /// when the node does not exist (kazoo returns `None`).
    Exists {
        /// Request id to echo back.
        req: RequestId,
        /// The node.
        path: Arc<str>,
        /// Always `false`.
        watch: bool,
    },
    /// `delete(path)` at any version. Reply [`Reply::Ok`].
    Delete {
        /// Request id to echo back.
        req: RequestId,
        /// The node.
        path: Arc<str>,
    },
}

impl Command {
    /// The request id the reply must carry.
    #[must_use]
    pub const fn req(&self) -> RequestId {
        match self {
            Command::Create { req, .. }
            | Command::EnsurePath { req, .. }
            | Command::GetChildren { req, .. }
            | Command::GetData { req, .. }
            | Command::Exists { req, .. }
            | Command::Delete { req, .. } => *req,
        }
    }

    /// The command's name as it appears in JSON.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Command::Create { .. } => "create",
            Command::EnsurePath { .. } => "ensure_path",
            Command::GetChildren { .. } => "get_children",
            Command::GetData { .. } => "get_data",
            Command::Exists { .. } => "exists",
            Command::Delete { .. } => "delete",
        }
    }

    /// The node the command is about.
    #[must_use]
    pub fn path(&self) -> &str {
        match self {
            Command::Create { path, .. }
            | Command::EnsurePath { path, .. }
            | Command::GetChildren { path, .. }
            | Command::GetData { path, .. }
            | Command::Exists { path, .. }
            | Command::Delete { path, .. } => path,
        }
    }
}

/// Why a request got no usable answer (ZooKeeper's error codes, grouped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `NoNode`: the node (or, for a create, its parent) does not exist.
    NoNode,
    /// `NodeExists`.
    NodeExists,
    /// `ConnectionLoss` (or the connection was never made): whether the request
    /// was applied is unknown.
    Connection,
    /// `SessionExpired` (or the client was closed): the session is gone.
    SessionExpired,
    /// No reply in time (the host's own timeout, or `OperationTimeout`).
    Timeout,
    /// Any other ZooKeeper error (`NoAuth`, `BadArguments`, ...).
    Server,
    /// The reply did not have the shape the request calls for.
    Protocol,
}

impl ErrorKind {
    /// The kind's name as it appears in JSON.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::NoNode => "no_node",
            ErrorKind::NodeExists => "node_exists",
            ErrorKind::Connection => "connection",
            ErrorKind::SessionExpired => "session_expired",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Server => "server",
            ErrorKind::Protocol => "protocol",
        }
    }

    /// Whether the server itself answered (which proves the session was alive when
    /// the request was sent).
    #[must_use]
    pub const fn is_server_answer(self) -> bool {
        matches!(
            self,
            ErrorKind::NoNode | ErrorKind::NodeExists | ErrorKind::Server
        )
    }
}

/// ZooKeeper's answer to a command, as the host's client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum Reply {
    /// Answer to [`Command::Create`]: the full path of the new node, and its stat
    /// when the client has it (ZooKeeper 3.5+ `create2`; kazoo
    /// `include_data=True`), else `null` (the machine then reads it with `exists`).
    Created {
        /// The created node, sequence included.
        path: String,
        /// Its stat, if the client returned one.
        #[cfg_attr(feature = "serde", serde(default))]
        stat: Option<Stat>,
    },
    /// Answer to [`Command::EnsurePath`] and [`Command::Delete`].
    Ok,
    /// Answer to [`Command::GetChildren`]: child names (not paths), any order.
    Children {
        /// The names.
        children: Vec<String>,
    },
    /// Answer to [`Command::GetData`] and [`Command::Exists`] for a node that exists.
    Stat {
        /// Its stat.
        stat: Stat,
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
            Reply::Created { .. } => "created",
            Reply::Ok => "ok",
            Reply::Children { .. } => "children",
            Reply::Stat { .. } => "stat",
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

    /// Whether the server itself answered.
    #[must_use]
    pub const fn is_server_answer(&self) -> bool {
        match self {
            Reply::Error { kind, .. } => kind.is_server_answer(),
            _ => true,
        }
    }
}

/// A held lock (or won election), in the host's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct LockInfo {
    /// Our node: `<path>/<guid>-lock-<sequence>`.
    pub path: Arc<str>,
    /// Fencing token: our node's `czxid` (JSON: a decimal string). Successive
    /// holders get strictly increasing tokens, also across a deleted and recreated
    /// parent (where the sequence suffix starts again from 0).
    #[cfg_attr(feature = "serde", serde(with = "token_string"))]
    pub token: FencingToken,
    /// The session that owns our node.
    pub session: SessionId,
    /// When the lock was acquired.
    pub acquired_at: Millis,
    /// Stop relying on the lock at or after this time (already net of drift):
    /// the send time of the latest request the server answered, plus the session
    /// timeout minus drift. Moves on with every answer.
    pub valid_until: Millis,
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
    /// Whether our node had to queue behind another (contention).
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
    /// Try-lock: another node holds the lock (ours was deleted).
    Locked,
    /// The acquire deadline arrived (our node was deleted).
    Deadline,
    /// The host released (cancelled) before the lock was acquired.
    Cancelled,
    /// Requests kept failing beyond the retry policy.
    AttemptsExhausted,
    /// Our place in the queue was lost while we waited (see the `lost` event just
    /// before); our node was deleted (or went with the session).
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
    /// No server answer for a validity window (session timeout minus drift, from
    /// the send time of the last answered request): the session may have expired.
    Expired,
    /// The session expired, was closed, or was replaced by a new one.
    SessionExpired,
    /// Our node is gone while the session lives (someone deleted it).
    NodeDeleted,
    /// The node with our guid belongs to another session (one of ours that ended):
    /// it is not counted as ours (Curator CURATOR-604 / CURATOR-696).
    OwnerMismatch,
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
    /// Our node was deleted.
    Released,
    /// Our node was already gone (session expired, or deleted).
    AlreadyExpired,
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
    /// Our node exists (its create answered, or it was found again by its guid).
    NodeCreated {
        /// Its full path.
        path: Arc<str>,
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
    /// A check found our node in place while held: the lock is held (again).
    Checked {
        /// New end of validity.
        valid_until: Millis,
    },
    /// The connection dropped while held: do not rely on the lock until `checked`;
    /// it is lost at `valid_until` unless the session is confirmed before.
    Uncertain {
        /// End of validity.
        valid_until: Millis,
    },
    /// The hold has passed 80 % of the session timeout without a server answer.
    ExpiryWarning {
        /// End of validity.
        valid_until: Millis,
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
    /// The release finished (terminal): our node is gone.
    Released {
        /// How it ended.
        outcome: ReleaseOutcome,
        /// From acquisition to the release request (or to the loss), in ms.
        held_for: u64,
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

/// The state of a ZooKeeper machine, for getters and vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum State {
    /// Creating our node, or listing the children.
    Acquiring,
    /// Queued behind another node: watching our predecessor.
    Waiting,
    /// The lock is held.
    Held,
    /// Held, but the connection dropped: the session may be gone.
    Uncertain,
    /// The lock (or queue place) was lost; release still cleans up.
    Lost,
    /// Deleting our node (release, or giving up).
    Releasing,
    /// Released (terminal).
    Released,
    /// The acquisition failed or was cancelled (terminal).
    Failed,
}

impl State {
    /// The state's name as it appears in JSON.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            State::Acquiring => "acquiring",
            State::Waiting => "waiting",
            State::Held => "held",
            State::Uncertain => "uncertain",
            State::Lost => "lost",
            State::Releasing => "releasing",
            State::Released => "released",
            State::Failed => "failed",
        }
    }

    /// Whether the machine will never act again (late replies are still accepted).
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(self, State::Released | State::Failed)
    }
}

/// A child name's place in the queue: the sequence number of a lock contender, or
/// `None` for a child that is not one.
///
/// Contenders are children named `<anything>-lock-<10 digits>` (ours, and Curator's
/// `InterProcessMutex` / `LeaderSelector` nodes `_c_<uuid>-lock-<seq>`) and kazoo's
/// `<uuid>__lock__<seq>` / `<uuid>__rlock__<seq>` (a kazoo read lock counts as
/// exclusive here: waiting on it is safe). Sequence numbers come from the parent's
/// counter, so every contender under one parent has a distinct one (ZooKeeper
/// formats it as a signed 32-bit `%010d`; after 2^31 - 1 creates under one parent
/// it turns negative, and such a name is not recognised).
#[must_use]
pub fn contender_sequence(name: &str) -> Option<u64> {
    const DIGITS: usize = 10;
    if name.len() < DIGITS || !name.is_char_boundary(name.len() - DIGITS) {
        return None;
    }
    let (head, digits) = name.split_at(name.len() - DIGITS);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let marked =
        head.ends_with("-lock-") || head.ends_with("__lock__") || head.ends_with("__rlock__");
    if !marked {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contenders_are_recognised_by_their_suffix() {
        assert_eq!(contender_sequence("abc-lock-0000000012"), Some(12));
        assert_eq!(
            contender_sequence("_c_0b9a0b6e-2f1c-4a64-a1ee-1c8b5a8f3d21-lock-0000000007"),
            Some(7)
        );
        assert_eq!(contender_sequence("f00d__lock__0000000003"), Some(3));
        assert_eq!(contender_sequence("f00d__rlock__0000000004"), Some(4));
        assert_eq!(contender_sequence("leases"), None);
        assert_eq!(contender_sequence("abc-lock-000000001"), None);
        assert_eq!(contender_sequence("abc-latch-0000000001"), None);
        assert_eq!(contender_sequence("abc-lock-00000000x1"), None);
        assert_eq!(contender_sequence("é-lock-0000000001"), Some(1));
        assert_eq!(contender_sequence("ééééé"), None);
        assert_eq!(contender_sequence("-lock-2147483647"), Some(2_147_483_647));
        assert_eq!(contender_sequence("x-lock--2147483648"), None);
    }
}
