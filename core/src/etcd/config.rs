//! Configuration of the etcd machines, its validation, and the numbers derived
//! from it; the arguments that start each machine.

use alloc::string::String;

use crate::backoff::{RetryPolicy, MAX_RETRY_DELAY};
use crate::error::ConfigError;
use crate::redlock::{drift_allowance, MAX_DRIFT_PPM, MAX_RESOURCE_LEN};
use crate::types::is_printable;
use crate::types::Millis;

/// Longest lease TTL accepted, in seconds (so that the TTL in ms stays below 2^31).
pub const MAX_TTL_SECS: u64 = 2_147_483;
/// Default cap on the derived request timeout, in ms.
pub const DEFAULT_REQUEST_TIMEOUT_CAP: u64 = 2_000;
/// Longest lock / election name, in UTF-8 bytes.
pub const MAX_NAME_LEN: usize = MAX_RESOURCE_LEN;
/// Longest election value, in bytes.
pub const MAX_ELECTION_VALUE_LEN: usize = 4_096;
/// Attempts of each cleanup request (the guarded delete, the revoke) before the
/// release gives up on it.
pub const CLEANUP_ATTEMPTS: u32 = 3;

/// How a queued waiter learns that its predecessor is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum WaitMode {
    /// Watch the predecessor's key from the range's header revision (a delete in
    /// between is replayed). The watch is closed and the predecessor read again
    /// after `recheck` ms without news (default: the TTL, at most one hour), so a
    /// lost notification delays a waiter but never strands it.
    Watch {
        /// Re-read the predecessor after this many ms without a watch answer.
        #[cfg_attr(feature = "serde", serde(default))]
        recheck: Option<u64>,
    },
    /// Read the predecessor again every `interval` ms (for hosts that cannot hold a
    /// stream open, such as edge runtimes with request-duration limits).
    Poll {
        /// Milliseconds between two reads.
        interval: u64,
    },
}

impl Default for WaitMode {
    fn default() -> Self {
        WaitMode::Watch { recheck: None }
    }
}

/// How an etcd lock, election or observer talks to etcd. Every field but `ttl_secs`
/// has a default; JSON configs may leave them out.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct EtcdConfig {
    /// Lease TTL to request, in **seconds** (etcd's unit; 1 to [`MAX_TTL_SECS`]).
    /// The server may raise it (etcd's minimum is about 2 s by default); the machine
    /// uses what it grants.
    pub ttl_secs: u64,
    /// Clock-drift allowance in parts per million of the TTL. Default 10 000 (1 %).
    #[cfg_attr(feature = "serde", serde(default = "default_drift_ppm"))]
    pub drift_ppm: u32,
    /// How long to wait for one reply, in ms (watches excepted). Default: a third of
    /// the validity window, at most 2 s. Must not exceed a third of the window.
    #[cfg_attr(feature = "serde", serde(default))]
    pub request_timeout: Option<u64>,
    /// Watch the predecessor or poll it. Default: watch.
    #[cfg_attr(feature = "serde", serde(default))]
    pub wait: WaitMode,
    /// Retry schedule for failed requests.
    #[cfg_attr(feature = "serde", serde(default))]
    pub retry: RetryPolicy,
    /// Seed of the jitter PRNG (hosts pass random bits; vectors pin it).
    #[cfg_attr(feature = "serde", serde(default))]
    pub rng_seed: u64,
}

#[cfg(any(feature = "serde", feature = "lean-json"))]
pub(crate) use crate::redlock::config::default_drift_ppm;

impl EtcdConfig {
    /// A configuration with every default: 1 % drift, derived request timeout,
    /// watch, default retries.
    #[must_use]
    pub fn new(ttl_secs: u64) -> Self {
        EtcdConfig {
            ttl_secs,
            drift_ppm: crate::redlock::config::DEFAULT_DRIFT_PPM,
            request_timeout: None,
            wait: WaitMode::default(),
            retry: RetryPolicy::default(),
            rng_seed: 0,
        }
    }

    /// Checks the configuration and derives the numbers the machines use.
    pub fn validate(&self) -> Result<Params, ConfigError> {
        if self.ttl_secs == 0 || self.ttl_secs > MAX_TTL_SECS {
            return Err(ConfigError::InvalidTtl {
                ttl: self.ttl_secs.saturating_mul(1_000),
                max: MAX_TTL_SECS * 1_000,
            });
        }
        if self.drift_ppm > MAX_DRIFT_PPM {
            return Err(ConfigError::InvalidDrift {
                drift_ppm: self.drift_ppm,
                max: MAX_DRIFT_PPM,
            });
        }
        let ttl = self.ttl_secs * 1_000;
        let window = ttl - drift_allowance(ttl, self.drift_ppm);
        let max_timeout = window / 3;
        let request_timeout = self
            .request_timeout
            .unwrap_or_else(|| max_timeout.min(DEFAULT_REQUEST_TIMEOUT_CAP));
        if request_timeout == 0 || request_timeout > max_timeout {
            return Err(ConfigError::InvalidNodeTimeout {
                node_timeout: request_timeout,
                max: max_timeout,
            });
        }
        let wait = match self.wait {
            WaitMode::Watch { recheck } => {
                let recheck = recheck.unwrap_or_else(|| ttl.min(MAX_RETRY_DELAY));
                if recheck == 0 || recheck > MAX_RETRY_DELAY {
                    return Err(ConfigError::InvalidWait {
                        reason: "watch recheck must be between 1 ms and one hour",
                    });
                }
                Wait::Watch { recheck }
            }
            WaitMode::Poll { interval } => {
                if interval == 0 || interval > MAX_RETRY_DELAY {
                    return Err(ConfigError::InvalidWait {
                        reason: "poll interval must be between 1 ms and one hour",
                    });
                }
                Wait::Poll { interval }
            }
        };
        self.retry.validate()?;
        Ok(Params {
            ttl_secs: self.ttl_secs,
            drift_ppm: self.drift_ppm,
            request_timeout,
            wait,
            retry: self.retry,
        })
    }
}

/// How waiting works, with defaults resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Wait {
    /// Watch, re-reading after `recheck` ms without news.
    Watch {
        /// Milliseconds.
        recheck: u64,
    },
    /// Poll every `interval` ms.
    Poll {
        /// Milliseconds.
        interval: u64,
    },
}

/// Numbers derived from a validated [`EtcdConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Params {
    /// Requested lease TTL, in seconds.
    pub ttl_secs: u64,
    /// Drift allowance, in parts per million.
    pub drift_ppm: u32,
    /// Per-request reply timeout, in ms.
    pub request_timeout: u64,
    /// Watch or poll.
    pub wait: Wait,
    /// Retry schedule.
    pub retry: RetryPolicy,
}

impl Params {
    /// The local validity a lease of `ttl_secs` (as granted) gives from the send
    /// time of its grant or keep-alive: `ttl - drift`, in ms. TTLs above
    /// [`MAX_TTL_SECS`] count as [`MAX_TTL_SECS`] (a shorter local validity is safe).
    #[must_use]
    pub fn window(&self, ttl_secs: u64) -> u64 {
        let ttl = ttl_secs.min(MAX_TTL_SECS) * 1_000;
        ttl.saturating_sub(drift_allowance(ttl, self.drift_ppm))
    }
}

/// What a host passes to start a [`super::Mutex`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct MutexArgs {
    /// Current time; the lease grant is sent now.
    pub now: Millis,
    /// Lock name (Go: `concurrency.NewMutex(session, name)`); keys are
    /// `name + "/" + hex(lease)`.
    pub name: String,
    /// Give up acquiring after this many ms (`null`: wait as long as it takes).
    #[cfg_attr(feature = "serde", serde(default))]
    pub timeout: Option<u64>,
    /// Try-lock: if another key holds the lock, remove ours and fail with `locked`
    /// instead of waiting.
    #[cfg_attr(feature = "serde", serde(default))]
    pub try_lock: bool,
}

impl MutexArgs {
    /// Arguments for locking `name`, starting at `now`, waiting without a deadline.
    #[must_use]
    pub fn new(now: Millis, name: impl Into<String>) -> Self {
        MutexArgs {
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

/// What a host passes to start an [`super::Election`] campaign.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct ElectionArgs {
    /// Current time; the lease grant is sent now.
    pub now: Millis,
    /// Election name (Go: `concurrency.NewElection(session, name)`).
    pub name: String,
    /// The value to proclaim once elected (1 to [`MAX_ELECTION_VALUE_LEN`] bytes, no
    /// control characters).
    pub value: String,
    /// Give up campaigning after this many ms (`null`: wait as long as it takes).
    #[cfg_attr(feature = "serde", serde(default))]
    pub timeout: Option<u64>,
}

impl ElectionArgs {
    /// Arguments for campaigning in `name` with `value`, starting at `now`.
    #[must_use]
    pub fn new(now: Millis, name: impl Into<String>, value: impl Into<String>) -> Self {
        ElectionArgs {
            now,
            name: name.into(),
            value: value.into(),
            timeout: None,
        }
    }

    /// The same arguments with a campaign deadline `timeout` ms from now.
    #[must_use]
    pub fn with_timeout(mut self, timeout: u64) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// What a host passes to start an [`super::Observer`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct ObserveArgs {
    /// Current time; the first read is sent now.
    pub now: Millis,
    /// Election name.
    pub name: String,
    /// `false`: read the leader once (Go's `Election.Leader`); `true`: keep
    /// reporting it as it changes (Go's `Election.Observe`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub follow: bool,
}

impl ObserveArgs {
    /// Arguments for reading the leader of `name` once.
    #[must_use]
    pub fn leader(now: Millis, name: impl Into<String>) -> Self {
        ObserveArgs {
            now,
            name: name.into(),
            follow: false,
        }
    }

    /// Arguments for following the leader of `name`.
    #[must_use]
    pub fn observe(now: Millis, name: impl Into<String>) -> Self {
        ObserveArgs {
            now,
            name: name.into(),
            follow: true,
        }
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), ConfigError> {
    if name.is_empty() {
        return Err(ConfigError::EmptyResource);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(ConfigError::ResourceTooLong {
            len: name.len(),
            max: MAX_NAME_LEN,
        });
    }
    Ok(())
}

/// Whether `value` may be an election value.
#[must_use]
pub(crate) fn election_value_ok(value: &str) -> bool {
    !value.is_empty() && is_printable(value, MAX_ELECTION_VALUE_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_ttl() {
        let params = EtcdConfig::new(10).validate().unwrap();
        assert_eq!(params.request_timeout, 2_000);
        assert_eq!(params.wait, Wait::Watch { recheck: 10_000 });
        assert_eq!(params.window(10), 9_898);
        let params = EtcdConfig::new(1).validate().unwrap();
        assert_eq!(params.request_timeout, 329);
        assert_eq!(params.window(u64::MAX), 2_147_483_000 - 21_474_832);
    }

    #[test]
    fn bad_configs_have_codes() {
        let code = |c: EtcdConfig| c.validate().unwrap_err().code();
        assert_eq!(code(EtcdConfig::new(0)), "INVALID_TTL");
        assert_eq!(code(EtcdConfig::new(MAX_TTL_SECS + 1)), "INVALID_TTL");
        let mut c = EtcdConfig::new(10);
        c.request_timeout = Some(3_300);
        assert_eq!(code(c), "INVALID_NODE_TIMEOUT");
        let mut c = EtcdConfig::new(10);
        c.wait = WaitMode::Poll { interval: 0 };
        assert_eq!(code(c), "INVALID_WAIT");
    }
}
