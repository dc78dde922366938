//! What flows between a host and the PostgreSQL advisory-lock machine
//! ([`super::Lock`]): inputs, commands (SQL statements on the pinned session), the
//! rows they return and events. Their JSON form (with the `serde` feature) is the
//! conformance vocabulary: `{"type": "snake_case", ...}`.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::sql;
use crate::fence::FencingToken;
use crate::types::{Millis, RequestId};

/// One SQL value: a parameter, or a column of a returned row. JSON: `null`, a
/// boolean, an integer or a string. Drivers that return `bigint` as a string
/// (node-postgres) pass it as it is: integer columns may be decimal strings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SqlValue {
    /// SQL `NULL`.
    Null,
    /// A `boolean`.
    Bool(bool),
    /// An integer type.
    Int(i64),
    /// `text` (or an integer the driver returned as a string).
    Text(String),
}

impl SqlValue {
    /// The value as an integer: an `Int`, or a `Text` of decimal digits (with an
    /// optional leading `-`).
    #[must_use]
    pub fn as_int(&self) -> Option<i64> {
        match self {
            SqlValue::Int(i) => Some(*i),
            SqlValue::Text(t) => {
                let digits = t.strip_prefix('-').unwrap_or(t);
                if digits.is_empty()
                    || digits.len() > 19
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return None;
                }
                t.parse().ok()
            }
            _ => None,
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for SqlValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            SqlValue::Null => serializer.serialize_unit(),
            SqlValue::Bool(b) => serializer.serialize_bool(*b),
            SqlValue::Int(i) => serializer.serialize_i64(*i),
            SqlValue::Text(t) => serializer.serialize_str(t),
        }
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for SqlValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = SqlValue;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("null, a boolean, an integer or a string")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<SqlValue, E> {
                Ok(SqlValue::Null)
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<SqlValue, E> {
                Ok(SqlValue::Null)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<SqlValue, D::Error> {
                serde::Deserialize::deserialize(d)
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<SqlValue, E> {
                Ok(SqlValue::Bool(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SqlValue, E> {
                Ok(SqlValue::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SqlValue, E> {
                i64::try_from(v)
                    .map(SqlValue::Int)
                    .map_err(|_| E::custom("integer above 2^63 - 1"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SqlValue, E> {
                Ok(SqlValue::Text(String::from(v)))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<SqlValue, E> {
                Ok(SqlValue::Text(v))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Which of the machine's statements a query is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Statement {
    /// [`sql::TRY_LOCK`].
    TryLock,
    /// [`sql::FENCE`].
    Fence,
    /// [`sql::SETUP`].
    Setup,
    /// [`sql::CHECK`].
    Check,
    /// [`sql::UNLOCK`].
    Unlock,
}

impl Statement {
    /// The statement's SQL text.
    #[must_use]
    pub const fn sql(self) -> &'static str {
        match self {
            Statement::TryLock => sql::TRY_LOCK,
            Statement::Fence => sql::FENCE,
            Statement::Setup => sql::SETUP,
            Statement::Check => sql::CHECK,
            Statement::Unlock => sql::UNLOCK,
        }
    }

    /// The statement's name as it appears in JSON.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Statement::TryLock => "try_lock",
            Statement::Fence => "fence",
            Statement::Setup => "setup",
            Statement::Check => "check",
            Statement::Unlock => "unlock",
        }
    }
}

/// Something the machine asks the host to do: run one statement on the **pinned
/// session** (the same server connection for every statement of this machine,
/// used by nothing else meanwhile, in autocommit mode), in the order emitted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum Command {
    /// Run `sql` with `params` (`$1`, `$2`, ...) and reply with its first row
    /// ([`Reply::Row`]), [`Reply::Done`] when it returns none, or an error.
    Query {
        /// Request id to echo back.
        req: RequestId,
        /// Which statement (the SQL is fixed for each).
        statement: Statement,
        /// The SQL text ([`Statement::sql`]).
        sql: Cow<'static, str>,
        /// The parameters.
        params: Arc<[SqlValue]>,
    },
}

impl Command {
    /// The request id the reply must carry.
    #[must_use]
    pub const fn req(&self) -> RequestId {
        match self {
            Command::Query { req, .. } => *req,
        }
    }
}

/// Why a statement got no usable answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The connection is closed or broke (including `57P01 admin_shutdown` after
    /// `pg_terminate_backend`): the session, and every lock it held, is gone.
    Connection,
    /// The server answered with an error (`code` is its SQLSTATE); the session
    /// lives on.
    Server,
    /// No reply in time (the host's own timeout, or the machine's).
    Timeout,
    /// The row did not have the shape the statement calls for.
    Protocol,
}

impl ErrorKind {
    /// The kind's name as it appears in JSON.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::Connection => "connection",
            ErrorKind::Server => "server",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
        }
    }
}

/// The result of a statement, as the host's driver saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum Reply {
    /// The first row, its columns in order.
    Row {
        /// Column values.
        values: Vec<SqlValue>,
    },
    /// The statement returned no row (or no result set).
    Done,
    /// No usable answer.
    Error {
        /// What went wrong.
        kind: ErrorKind,
        /// The SQLSTATE for server errors (`42P01`, ...), else empty.
        #[cfg_attr(feature = "serde", serde(default))]
        code: String,
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
            Reply::Row { .. } => "row",
            Reply::Done => "done",
            Reply::Error { .. } => "error",
        }
    }

    /// A [`Reply::Error`].
    #[must_use]
    pub fn error(kind: ErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        Reply::Error {
            kind,
            code: code.into(),
            message: message.into(),
        }
    }
}

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
    /// The result of a statement this machine asked for.
    Reply {
        /// Time the result arrived.
        now: Millis,
        /// Request id of the command.
        req: RequestId,
        /// What the driver returned.
        result: Reply,
    },
    /// The pinned session's connection closed or broke outside a statement (the
    /// driver noticed): its locks are gone.
    SessionLost {
        /// Current time.
        now: Millis,
    },
    /// The host's timer fired. Early or spurious timeouts are no-ops.
    Timeout {
        /// Current time.
        now: Millis,
    },
    /// Unlock a held (or lost) lock, or cancel an acquisition.
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
            | Input::SessionLost { now }
            | Input::Timeout { now }
            | Input::Release { now } => *now,
        }
    }
}

/// A held lock, in the host's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct LockInfo {
    /// The lock name (the key is `hashtextextended(name, 0)`).
    pub name: Arc<str>,
    /// Fencing token: the name's counter in `fencelock_fence`, bumped right after
    /// the lock was taken. Successive holders get strictly increasing tokens.
    pub token: FencingToken,
    /// The backend (`pg_backend_pid()`) whose session holds the lock.
    pub pid: u32,
    /// When the lock was acquired.
    pub acquired_at: Millis,
}

/// Numbers about one acquisition, carried by `acquired` and `acquire_failed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct AcquireStats {
    /// From the start to the outcome, in ms.
    pub latency: u64,
    /// `try_lock` statements sent.
    pub attempts: u32,
    /// Of those, answered `busy` (another session held the lock).
    pub contended: u32,
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
    /// Try-lock: another session holds the lock.
    Locked,
    /// The acquire deadline arrived.
    Deadline,
    /// The host released (cancelled) before the lock was acquired.
    Cancelled,
    /// `busy` answers or failed statements beyond the retry policy.
    AttemptsExhausted,
    /// This session already holds the lock for someone else (the connection is
    /// shared by two locks): refused, never a second holder.
    AlreadyHeld,
    /// The session's connection closed or broke.
    SessionLost,
    /// Two statements ran on different backends: the session is not pinned (a
    /// transaction-mode pooler). The lock may be stranded on the first backend.
    SessionNotPinned,
}

/// Why a held lock was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum LostReason {
    /// The session's connection closed or broke (`pg_terminate_backend`, a server
    /// restart or failover, a network failure): the server released the lock.
    SessionLost,
    /// The check found this session no longer holds the lock (someone ran
    /// `pg_advisory_unlock_all`, or the session was reset by a pooler).
    NotHeld,
    /// The check ran on another backend: the session is not pinned.
    SessionNotPinned,
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
    /// `pg_advisory_unlock` released it.
    Released,
    /// This session did not hold it any more.
    NotHeld,
    /// The session is gone; so is the lock.
    SessionLost,
    /// The unlock ran on another backend and left it alone: the lock may be
    /// stranded on the original backend. Close the connection.
    SessionNotPinned,
    /// No unlock could be confirmed: close the connection (ending the session
    /// releases the lock).
    Unconfirmed,
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
    /// A statement failed or timed out (for logs and metrics).
    RequestError {
        /// The failed request.
        req: RequestId,
        /// What went wrong.
        kind: ErrorKind,
        /// The SQLSTATE, if any.
        code: String,
        /// Details.
        message: String,
    },
    /// Another session holds the lock; the next attempt is at `retry_at`.
    Busy {
        /// The attempt that met the holder (from 1).
        attempt: u32,
        /// When the next attempt goes out.
        retry_at: Millis,
    },
    /// The lock is held.
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
    /// A check confirmed the lock is held (again, after `uncertain`).
    Checked,
    /// A check got no answer: do not rely on the lock until `checked`.
    Uncertain,
    /// The lock is gone: stop using the protected resource. Release still cleans
    /// up.
    Lost {
        /// Why.
        reason: LostReason,
        /// From acquisition to the loss, in ms.
        held_for: u64,
    },
    /// The release finished (terminal).
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
    /// Run this statement and deliver its result.
    Command(Command),
    /// Report this event.
    Event(Event),
}

/// The state of the machine, for getters and vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum State {
    /// Trying the lock, or bumping the fencing counter.
    Acquiring,
    /// Another session holds the lock: waiting for the next attempt.
    Waiting,
    /// The lock is held.
    Held,
    /// Held, but the last check got no answer.
    Uncertain,
    /// The lock was lost; release still reports how.
    Lost,
    /// Unlocking (release, or giving up after the lock may have been taken).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_come_as_numbers_or_decimal_text() {
        assert_eq!(SqlValue::Int(7).as_int(), Some(7));
        assert_eq!(
            SqlValue::Text("9007199254740993".into()).as_int(),
            Some(9_007_199_254_740_993)
        );
        assert_eq!(SqlValue::Text("-3".into()).as_int(), Some(-3));
        assert_eq!(SqlValue::Text("7a".into()).as_int(), None);
        assert_eq!(SqlValue::Text("".into()).as_int(), None);
        assert_eq!(SqlValue::Text("-".into()).as_int(), None);
        assert_eq!(SqlValue::Text("99999999999999999999".into()).as_int(), None);
        assert_eq!(SqlValue::Bool(true).as_int(), None);
        assert_eq!(Statement::Fence.sql(), sql::FENCE);
    }
}
