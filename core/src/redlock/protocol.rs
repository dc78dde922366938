//! What flows between a host and a [`super::Redlock`] machine: inputs, commands,
//! node replies and events. Their JSON form (with the `serde` feature) is the
//! conformance vocabulary: `{"type": "snake_case", ...}`.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::scripts::Script;
use crate::fence::FencingToken;
use crate::types::{Millis, NodeId, RequestId};

/// Something the host tells the machine. Every input carries the host's monotonic
/// time, which must never go backwards.
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
        /// Optional cross-check: the node the host sent the command to.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        node: Option<NodeId>,
        /// What the node answered, or why it could not.
        result: NodeReply,
    },
    /// The host's timer fired. Early or spurious timeouts are no-ops.
    Timeout {
        /// Current time.
        now: Millis,
    },
    /// Extend the held lease now (joins an extension already in flight).
    Extend {
        /// Current time.
        now: Millis,
    },
    /// Release the lease, or cancel the acquisition if it is not held yet.
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
            | Input::Timeout { now }
            | Input::Extend { now }
            | Input::Release { now } => *now,
        }
    }
}

/// A node's answer to a command, as the host's Redis client saw it. The machine
/// interprets it according to the script the request ran.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum NodeReply {
    /// An integer reply (what every fencelock script returns).
    Int {
        /// The integer.
        value: i64,
    },
    /// A nil reply.
    Nil,
    /// A status or bulk-string reply.
    Text {
        /// The text (lossy UTF-8 for binary replies).
        value: String,
    },
    /// An array reply.
    Array {
        /// The elements.
        items: Vec<NodeReply>,
    },
    /// No usable answer: the node replied with an error, or could not be reached.
    Error {
        /// What went wrong.
        kind: NodeErrorKind,
        /// Details for logs (the Redis error text, the socket error, ...).
        #[cfg_attr(feature = "serde", serde(default))]
        message: String,
    },
}

/// Why a node gave no usable answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum NodeErrorKind {
    /// No reply in time (the host's own timeout, or the machine's `node_timeout`).
    Timeout,
    /// The connection could not be made or broke.
    Connection,
    /// Redis answered with an error reply (`ERR`, `BUSY`, `OOM`, `READONLY`, ...).
    Server,
    /// The reply did not have the shape the script returns.
    Protocol,
}

impl NodeErrorKind {
    /// The kind's name as it appears in JSON.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            NodeErrorKind::Timeout => "timeout",
            NodeErrorKind::Connection => "connection",
            NodeErrorKind::Server => "server",
            NodeErrorKind::Protocol => "protocol",
        }
    }
}

/// Something the machine asks the host to do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "type", rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Command {
    /// Run `script` on `node`: `EVALSHA <script.sha1()> <keys.len()> <keys..> <args..>`
    /// (falling back to `EVAL` on `NOSCRIPT`), then deliver the reply with `req`.
    /// Commands for one node must reach it in the order they were emitted.
    Eval(Eval),
}

/// A script invocation on one node.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Eval {
    /// Id to echo back in the reply.
    pub req: RequestId,
    /// Node to run it on.
    pub node: NodeId,
    /// Which script.
    pub script: Script,
    /// `KEYS` of the script.
    pub keys: Arc<[String]>,
    /// `ARGV` of the script.
    pub args: Arc<[String]>,
}

impl Eval {
    /// A script invocation (for hosts, fakes and tests that build commands
    /// themselves, e.g. to encode them with [`crate::wire::resp::encode_eval`]).
    #[must_use]
    pub fn new(
        req: RequestId,
        node: NodeId,
        script: Script,
        keys: Arc<[String]>,
        args: Arc<[String]>,
    ) -> Self {
        Eval {
            req,
            node,
            script,
            keys,
            args,
        }
    }
}

/// A held lease, in the host's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Lease {
    /// Locked resources, sorted.
    pub resources: Arc<[String]>,
    /// Value written into every lock key.
    pub value: Arc<str>,
    /// When the lock was acquired.
    pub acquired_at: Millis,
    /// Stop relying on the lock at or after this time (already net of drift).
    pub valid_until: Millis,
    /// Fencing token for the protected resource (`null` when fencing is off).
    pub fencing_token: Option<FencingToken>,
}

/// Numbers about one acquisition, carried by `acquired` and `acquire_failed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct AcquireStats {
    /// From the first attempt's start to the outcome, in ms.
    pub latency: u64,
    /// Attempts started.
    pub attempts: u32,
    /// Attempts that met another holder on at least one node.
    pub contended: u32,
}

/// Why one acquisition attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum AttemptFailure {
    /// Conflicts, errors and timeouts left too few nodes to reach a quorum.
    NoQuorum,
    /// The fencing write-back could not reach a quorum inside the validity window.
    FenceUnconfirmed,
    /// The caller's acquire deadline arrived while the attempt was in flight.
    Deadline,
}

/// Why an acquisition ended without a lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum AcquireFailure {
    /// Every allowed attempt failed.
    AttemptsExhausted,
    /// The acquire deadline arrived (or no retry could start before it).
    Deadline,
    /// The host released (cancelled) before the lock was acquired.
    Cancelled,
}

/// Why an extension failed while the lease stays valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum ExtendFailure {
    /// Errors, timeouts or refusals left too few nodes to confirm a quorum.
    NoQuorum,
}

/// Why a lease was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum LostReason {
    /// The validity window ended (auto-extension is off).
    Expired,
    /// Auto-extension could not confirm a new validity in time; the lease is given
    /// up `node_timeout` before its validity ends.
    ExtensionFailed,
    /// A quorum of nodes answered that our value no longer holds the keys.
    Rejected,
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
    /// Our keys were deleted on a quorum of nodes.
    Released,
    /// A quorum answered, but our keys were gone (expired) on most of them.
    AlreadyExpired,
    /// A quorum answered, our keys were gone on most, and another owner holds a key
    /// on at least one node: someone else has (or had) the lock.
    HeldByOther,
    /// Fewer than a quorum of nodes answered; remaining keys expire with their TTL.
    QuorumUnreachable,
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
    /// A request of the current operation failed or timed out (for logs and metrics;
    /// the operation goes on while a quorum is still possible).
    NodeError {
        /// The failed request.
        req: RequestId,
        /// Its node.
        node: NodeId,
        /// What went wrong.
        kind: NodeErrorKind,
        /// Details.
        message: String,
    },
    /// One acquisition attempt failed; its keys are being released on every node.
    AttemptFailed {
        /// Attempt number, from 1.
        attempt: u32,
        /// Why.
        reason: AttemptFailure,
        /// Nodes that granted.
        granted: u16,
        /// Nodes held by another owner.
        conflicts: u16,
        /// Nodes that failed or timed out.
        errors: u16,
        /// When the next attempt starts; `null` when none will.
        retry_at: Option<Millis>,
    },
    /// The lock is held.
    Acquired {
        /// The lease.
        lease: Lease,
        /// How it went.
        stats: AcquireStats,
    },
    /// The acquisition ended without a lease (terminal).
    AcquireFailed {
        /// Why.
        reason: AcquireFailure,
        /// How it went.
        stats: AcquireStats,
    },
    /// The lease was extended.
    Extended {
        /// New end of validity.
        valid_until: Millis,
    },
    /// An extension failed; the lease is still valid until `valid_until`.
    ExtendFailed {
        /// Why.
        reason: ExtendFailure,
        /// Unchanged end of validity.
        valid_until: Millis,
        /// When auto-extension tries again; `null` when it will not.
        retry_at: Option<Millis>,
    },
    /// The hold has passed 80 % of the TTL without an extension.
    ExpiryWarning {
        /// End of validity.
        valid_until: Millis,
    },
    /// The lease is no longer held: stop using the protected resource (terminal for
    /// the hold; release still cleans up).
    Lost {
        /// Why.
        reason: LostReason,
        /// From acquisition to the end of the hold, in ms (the loss deadline when the
        /// validity ran out, however late the loss was noticed).
        held_for: u64,
    },
    /// The release finished (terminal).
    Released {
        /// How it ended.
        outcome: ReleaseOutcome,
        /// From acquisition to the release request (or to the loss, if the lease was
        /// lost first), in ms.
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

/// The machine's state, for getters and vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum State {
    /// An attempt is in flight.
    Acquiring,
    /// Waiting to start the next attempt.
    Retrying,
    /// The lease is held.
    Held,
    /// The lease is held and an extension is in flight.
    Extending,
    /// The lease was lost; release still cleans up.
    Lost,
    /// A release is in flight.
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
            State::Retrying => "retrying",
            State::Held => "held",
            State::Extending => "extending",
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
