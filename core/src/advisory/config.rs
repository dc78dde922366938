//! Configuration of the advisory-lock machine, its validation, and the arguments
//! that start it.

use alloc::string::String;

use crate::backoff::{RetryPolicy, MAX_RETRY_DELAY};
use crate::error::ConfigError;
use crate::redlock::config::{check_start_time, check_timeout};
use crate::types::Millis;

/// Longest lock name, in UTF-8 bytes (far below PostgreSQL's limits on `text` and
/// on a btree entry of `fencelock_fence`).
pub const MAX_NAME_LEN: usize = 512;
/// Default time to wait for one statement, in ms.
pub const DEFAULT_REQUEST_TIMEOUT: u64 = 5_000;
/// Default time between two checks of a held lock, in ms.
pub const DEFAULT_CHECK_INTERVAL: u64 = 5_000;
/// Attempts of the unlock statement before the release reports `unconfirmed`.
pub const CLEANUP_ATTEMPTS: u32 = 3;

/// How an advisory lock behaves. Every field has a default; JSON configs may leave
/// any of them out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct AdvisoryConfig {
    /// How long to wait for one statement, in ms (1 ms to one hour). Default 5 s.
    #[cfg_attr(feature = "serde", serde(default))]
    pub request_timeout: Option<u64>,
    /// While held, check that the session still holds the lock this often, in ms
    /// (1 ms to one hour). Default 5 s. A lock has no TTL: the check is how a holder
    /// learns that its session was terminated.
    #[cfg_attr(feature = "serde", serde(default))]
    pub check_interval: Option<u64>,
    /// Retry schedule: between `busy` attempts, and after failed statements.
    #[cfg_attr(feature = "serde", serde(default))]
    pub retry: RetryPolicy,
    /// Seed of the jitter PRNG (hosts pass random bits; vectors pin it).
    #[cfg_attr(feature = "serde", serde(default))]
    pub rng_seed: u64,
}

impl AdvisoryConfig {
    /// A configuration with every default.
    #[must_use]
    pub fn new() -> Self {
        AdvisoryConfig::default()
    }

    /// Checks the configuration and resolves its defaults.
    pub fn validate(&self) -> Result<Params, ConfigError> {
        let request_timeout = self.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        if request_timeout == 0 || request_timeout > MAX_RETRY_DELAY {
            return Err(ConfigError::InvalidNodeTimeout {
                node_timeout: request_timeout,
                max: MAX_RETRY_DELAY,
            });
        }
        let check_interval = self.check_interval.unwrap_or(DEFAULT_CHECK_INTERVAL);
        if check_interval == 0 || check_interval > MAX_RETRY_DELAY {
            return Err(ConfigError::InvalidWait {
                reason: "check_interval must be between 1 ms and one hour",
            });
        }
        self.retry.validate()?;
        Ok(Params {
            request_timeout,
            check_interval,
            retry: self.retry,
        })
    }
}

/// Numbers derived from a validated [`AdvisoryConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Params {
    /// Per-statement reply timeout, in ms.
    pub request_timeout: u64,
    /// Time between checks of a held lock, in ms.
    pub check_interval: u64,
    /// Retry schedule.
    pub retry: RetryPolicy,
}

/// What a host passes to start a [`super::Lock`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct LockArgs {
    /// Current time; the first attempt is sent now.
    pub now: Millis,
    /// Lock name: 1 to [`MAX_NAME_LEN`] bytes of UTF-8 without NUL. The key is
    /// `hashtextextended(name, 0)`, so `SELECT pg_advisory_lock(hashtextextended(
    /// 'name', 0))` from plain SQL takes the same lock.
    pub name: String,
    /// Give up acquiring after this many ms (`null`: as long as the retry policy
    /// allows).
    #[cfg_attr(feature = "serde", serde(default))]
    pub timeout: Option<u64>,
    /// Try-lock: one attempt; fail with `locked` if another session holds it.
    #[cfg_attr(feature = "serde", serde(default))]
    pub try_lock: bool,
}

impl LockArgs {
    /// Arguments for locking `name`, starting at `now`.
    #[must_use]
    pub fn new(now: Millis, name: impl Into<String>) -> Self {
        LockArgs {
            now,
            name: name.into(),
            timeout: None,
            try_lock: false,
        }
    }

    /// The same arguments with an acquire deadline `timeout` ms from now.
    #[must_use]
    pub fn with_timeout(mut self, timeout: u64) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The same arguments as a try-lock.
    #[must_use]
    pub fn try_lock(mut self) -> Self {
        self.try_lock = true;
        self
    }
}

pub(crate) fn check_args(args: &LockArgs) -> Result<(), ConfigError> {
    check_start_time(args.now)?;
    if args.name.is_empty() {
        return Err(ConfigError::EmptyResource);
    }
    if args.name.len() > MAX_NAME_LEN {
        return Err(ConfigError::ResourceTooLong {
            len: args.name.len(),
            max: MAX_NAME_LEN,
        });
    }
    if args.name.contains('\0') {
        return Err(ConfigError::InvalidName {
            reason: "PostgreSQL text cannot hold a NUL character",
        });
    }
    check_timeout(args.timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bad_values() {
        let params = AdvisoryConfig::new().validate().unwrap();
        assert_eq!(params.request_timeout, DEFAULT_REQUEST_TIMEOUT);
        assert_eq!(params.check_interval, DEFAULT_CHECK_INTERVAL);
        let mut c = AdvisoryConfig::new();
        c.request_timeout = Some(0);
        assert_eq!(c.validate().unwrap_err().code(), "INVALID_NODE_TIMEOUT");
        let mut c = AdvisoryConfig::new();
        c.check_interval = Some(MAX_RETRY_DELAY + 1);
        assert_eq!(c.validate().unwrap_err().code(), "INVALID_WAIT");
        let code = |name: &str| {
            check_args(&LockArgs::new(Millis(0), name))
                .err()
                .map(|e| e.code())
        };
        assert_eq!(code("orders"), None);
        assert_eq!(code("commandes: é, 注文"), None);
        assert_eq!(code(""), Some("EMPTY_RESOURCE"));
        assert_eq!(code("a\0b"), Some("INVALID_NAME"));
        assert_eq!(
            code(&"x".repeat(MAX_NAME_LEN + 1)),
            Some("RESOURCE_TOO_LONG")
        );
    }
}
