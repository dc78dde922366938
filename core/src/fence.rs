//! Fencing tokens and the resource-side [`FenceGuard`].
//!
//! A lease-based lock cannot stop a holder that pauses (GC, SIGSTOP, VM migration)
//! past its validity and then writes. The protected resource can: every write
//! carries the holder's fencing token, and the resource refuses any token lower
//! than the highest it has already admitted. The guard admits *equal* tokens, so
//! one holder may write many times during its hold.
//!
//! Three ready-made guards share that rule:
//! - [`FenceGuard`], in memory;
//! - [`REDIS_FENCED_SET`], a Lua compare-and-set for a resource that lives in Redis;
//! - [`fenced_update_sql`], an `UPDATE ... WHERE fence_token <= $token` for SQL.

use alloc::string::String;
use alloc::vec::Vec;

/// A strictly increasing number handed to each successive holder of a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct FencingToken(pub u64);

/// The guard's verdict on one write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "type", rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Admission {
    /// The token is at least the highest seen: the write may proceed.
    Accepted,
    /// A later holder has already written: this write comes from a stale holder.
    RejectedStale {
        /// Highest token admitted so far.
        highest: FencingToken,
    },
}

/// Kept by the protected resource: admits a token only if it is `>=` the highest
/// admitted so far.
///
/// ```
/// use fencelock_core::{Admission, FenceGuard, FencingToken};
/// let mut guard = FenceGuard::new();
/// assert_eq!(guard.admit(FencingToken(34)), Admission::Accepted);
/// assert_eq!(
///     guard.admit(FencingToken(33)),
///     Admission::RejectedStale { highest: FencingToken(34) }
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FenceGuard {
    highest: Option<FencingToken>,
}

impl FenceGuard {
    /// A guard that has admitted nothing yet.
    #[must_use]
    pub const fn new() -> Self {
        FenceGuard { highest: None }
    }

    /// A guard that resumes from a persisted highest token.
    #[must_use]
    pub const fn resume(highest: FencingToken) -> Self {
        FenceGuard {
            highest: Some(highest),
        }
    }

    /// Admits `token` (and records it) or rejects it as stale.
    pub fn admit(&mut self, token: FencingToken) -> Admission {
        match self.highest {
            Some(highest) if token < highest => Admission::RejectedStale { highest },
            _ => {
                self.highest = Some(token);
                Admission::Accepted
            }
        }
    }

    /// Highest token admitted so far.
    #[must_use]
    pub const fn highest(&self) -> Option<FencingToken> {
        self.highest
    }
}

/// Lua compare-and-set for a resource stored in Redis.
///
/// `KEYS[1]` holds the highest admitted token, `KEYS[2]` is the data key;
/// `ARGV[1]` is the writer's token, `ARGV[2]` the new value. The value is written
/// only if the token is `>=` the highest admitted. Returns the highest admitted
/// token after the call: the write happened exactly when it equals `ARGV[1]`.
pub const REDIS_FENCED_SET: &str = "\
local token = tonumber(ARGV[1])
if not token then return redis.error_reply('fencelock: token is not a number') end
local highest = tonumber(redis.call('GET', KEYS[1]) or '0')
if token < highest then return highest end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
return token
";

/// SHA1 of [`REDIS_FENCED_SET`], for `EVALSHA`.
pub const REDIS_FENCED_SET_SHA1: &str = "5a60061565407a3605bf101507f06650b09d2967";

/// Why [`fenced_update_sql`] refused an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {name:?} is not a plain SQL identifier ([A-Za-z_][A-Za-z0-9_]*, at most 63 bytes)")]
pub struct InvalidIdentifier {
    /// Which identifier (`table`, `column`, ...).
    pub what: &'static str,
    /// The identifier as given.
    pub name: String,
}

impl InvalidIdentifier {
    /// Stable cross-language code.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        "INVALID_IDENTIFIER"
    }
}

fn check_identifier(what: &'static str, name: &str) -> Result<(), InvalidIdentifier> {
    let bytes = name.as_bytes();
    let plain = !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    if plain {
        Ok(())
    } else {
        Err(InvalidIdentifier {
            what,
            name: String::from(name),
        })
    }
}

/// Builds the fenced write for a SQL resource (PostgreSQL placeholders):
///
/// ```sql
/// UPDATE <table> SET <column1> = $1, ..., <fence_column> = $N
///  WHERE <key_column> = $N+1 AND <fence_column> <= $N
/// ```
///
/// Bind the new values, then the fencing token, then the row key. One affected row
/// means the write was admitted; zero means a later holder already wrote (or the
/// row does not exist). Identifiers must be plain (`[A-Za-z_][A-Za-z0-9_]*`).
///
/// ```
/// let sql = fencelock_core::fenced_update_sql("accounts", &["balance"], "fence_token", "id").unwrap();
/// assert_eq!(
///     sql,
///     "UPDATE accounts SET balance = $1, fence_token = $2 WHERE id = $3 AND fence_token <= $2"
/// );
/// ```
pub fn fenced_update_sql(
    table: &str,
    columns: &[&str],
    fence_column: &str,
    key_column: &str,
) -> Result<String, InvalidIdentifier> {
    use core::fmt::Write;
    check_identifier("table", table)?;
    check_identifier("fence column", fence_column)?;
    check_identifier("key column", key_column)?;
    for column in columns {
        check_identifier("column", column)?;
    }
    let mut assignments: Vec<String> = Vec::with_capacity(columns.len() + 1);
    for (i, column) in columns.iter().enumerate() {
        assignments.push(alloc::format!("{column} = ${}", i + 1));
    }
    let token = columns.len() + 1;
    assignments.push(alloc::format!("{fence_column} = ${token}"));
    let mut sql = String::new();
    // Writing into a String cannot fail.
    let _ = write!(
        sql,
        "UPDATE {table} SET {} WHERE {key_column} = ${} AND {fence_column} <= ${token}",
        assignments.join(", "),
        token + 1
    );
    Ok(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_tokens_are_admitted_lower_ones_are_not() {
        let mut guard = FenceGuard::new();
        assert_eq!(guard.admit(FencingToken(5)), Admission::Accepted);
        assert_eq!(guard.admit(FencingToken(5)), Admission::Accepted);
        assert_eq!(
            guard.admit(FencingToken(4)),
            Admission::RejectedStale {
                highest: FencingToken(5)
            }
        );
        assert_eq!(guard.admit(FencingToken(9)), Admission::Accepted);
        assert_eq!(guard.highest(), Some(FencingToken(9)));
        assert_eq!(
            FenceGuard::resume(FencingToken(3)).admit(FencingToken(2)),
            Admission::RejectedStale {
                highest: FencingToken(3)
            }
        );
    }

    #[test]
    fn sql_identifiers_are_checked() {
        let err = fenced_update_sql("t; DROP TABLE x", &["v"], "f", "id").unwrap_err();
        assert_eq!(err.code(), "INVALID_IDENTIFIER");
        assert!(fenced_update_sql("t", &["1v"], "f", "id").is_err());
        assert!(fenced_update_sql("t", &[], "", "id").is_err());
        assert_eq!(
            fenced_update_sql("t", &[], "f", "id").unwrap(),
            "UPDATE t SET f = $1 WHERE id = $2 AND f <= $1"
        );
    }
}
