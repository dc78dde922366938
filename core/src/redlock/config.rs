//! Redlock configuration, its validation, and the numbers derived from it.

use alloc::string::String;

use crate::backoff::RetryPolicy;
use crate::error::ConfigError;
use crate::types::Millis;

/// Most Redis masters one lock may span.
pub const MAX_NODES: u16 = 64;
/// Longest TTL accepted, in ms (2^31 - 1, about 24.8 days).
pub const MAX_TTL: u64 = 2_147_483_647;
/// Largest drift allowance accepted, in parts per million of the TTL (50 %).
pub const MAX_DRIFT_PPM: u32 = 500_000;
/// Default clock-drift allowance, parts per million (1 %), for every machine.
pub(crate) const DEFAULT_DRIFT_PPM: u32 = 10_000;
/// Added to every drift allowance: Redis expires keys with 1 ms precision, plus 1 ms
/// of minimum drift (the reference implementation's `+ 2`).
pub const CLOCK_PRECISION: u64 = 2;
/// Smallest validity window (`ttl - drift`) accepted, in ms.
pub const MIN_VALIDITY: u64 = 3;
/// Default cap on the derived per-node timeout, in ms.
pub const DEFAULT_NODE_TIMEOUT_CAP: u64 = 200;
/// Most resources one lock may cover.
pub const MAX_RESOURCES: usize = 64;
/// Longest resource name, in UTF-8 bytes.
pub const MAX_RESOURCE_LEN: usize = 512;
/// Longest lock value, in bytes.
pub const MAX_VALUE_LEN: usize = 128;
/// Longest key namespace, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 64;
/// Longest acquire timeout, in ms (one day).
pub const MAX_ACQUIRE_TIMEOUT: u64 = 86_400_000;

/// A machine's start time: at most [`crate::MAX_TIME`] (every machine checks it).
pub(crate) fn check_start_time(now: Millis) -> Result<(), ConfigError> {
    if now.0 > crate::MAX_TIME {
        return Err(ConfigError::TimeOutOfRange { got: now });
    }
    Ok(())
}

/// An acquire timeout, if given: `1..=MAX_ACQUIRE_TIMEOUT` (every machine checks it).
pub(crate) fn check_timeout(timeout: Option<u64>) -> Result<(), ConfigError> {
    match timeout {
        Some(t) if t == 0 || t > MAX_ACQUIRE_TIMEOUT => Err(ConfigError::InvalidTimeout {
            timeout: t,
            max: MAX_ACQUIRE_TIMEOUT,
        }),
        _ => Ok(()),
    }
}

/// How a Redlock lease is acquired, kept and released. Every field but `nodes` and
/// `ttl` has a default; JSON configs may leave them out.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct RedlockConfig {
    /// Number of independent Redis masters (1 to [`MAX_NODES`]).
    pub nodes: u32,
    /// Key TTL on every master, in ms (1 to [`MAX_TTL`]).
    pub ttl: u64,
    /// Clock-drift allowance in parts per million of the TTL. Default 10 000 (1 %).
    #[cfg_attr(feature = "serde", serde(default = "default_drift_ppm"))]
    pub drift_ppm: u32,
    /// How long to wait for one node's reply, in ms. Default: a tenth of the
    /// validity window, at most 200 ms. Must not exceed a third of the window.
    #[cfg_attr(feature = "serde", serde(default))]
    pub node_timeout: Option<u64>,
    /// Retry schedule for failed acquisition attempts.
    #[cfg_attr(feature = "serde", serde(default))]
    pub retry: RetryPolicy,
    /// Seed of the jitter PRNG (hosts pass random bits; vectors pin it).
    #[cfg_attr(feature = "serde", serde(default))]
    pub rng_seed: u64,
    /// Extend the lease automatically while it is held. Default false.
    #[cfg_attr(feature = "serde", serde(default))]
    pub auto_extend: bool,
    /// Hand out fencing tokens (a counter key per resource). Default true.
    #[cfg_attr(feature = "serde", serde(default = "default_true"))]
    pub fencing: bool,
    /// Prefix of every key this lock writes. Default `"fencelock"`.
    #[cfg_attr(feature = "serde", serde(default = "default_namespace"))]
    pub namespace: String,
}

#[cfg(any(feature = "serde", feature = "lean-json"))]
pub(crate) fn default_drift_ppm() -> u32 {
    DEFAULT_DRIFT_PPM
}
#[cfg(any(feature = "serde", feature = "lean-json"))]
pub(crate) fn default_true() -> bool {
    true
}
#[cfg(any(feature = "serde", feature = "lean-json"))]
pub(crate) fn default_namespace() -> String {
    String::from("fencelock")
}

impl RedlockConfig {
    /// A configuration with every default: 1 % drift, derived node timeout,
    /// default retries, no auto-extension, fencing on, namespace `fencelock`.
    #[must_use]
    pub fn new(nodes: u32, ttl: u64) -> Self {
        RedlockConfig {
            nodes,
            ttl,
            drift_ppm: DEFAULT_DRIFT_PPM,
            node_timeout: None,
            retry: RetryPolicy::default(),
            rng_seed: 0,
            auto_extend: false,
            fencing: true,
            namespace: String::from("fencelock"),
        }
    }

    /// Checks the configuration and derives quorum, drift and timeouts.
    pub fn validate(&self) -> Result<Params, ConfigError> {
        if self.nodes == 0 {
            return Err(ConfigError::NoNodes);
        }
        if self.nodes > u32::from(MAX_NODES) {
            return Err(ConfigError::TooManyNodes {
                nodes: self.nodes,
                max: MAX_NODES,
            });
        }
        if self.ttl == 0 || self.ttl > MAX_TTL {
            return Err(ConfigError::InvalidTtl {
                ttl: self.ttl,
                max: MAX_TTL,
            });
        }
        if self.drift_ppm > MAX_DRIFT_PPM {
            return Err(ConfigError::InvalidDrift {
                drift_ppm: self.drift_ppm,
                max: MAX_DRIFT_PPM,
            });
        }
        let drift = drift_allowance(self.ttl, self.drift_ppm);
        let window = self.ttl.saturating_sub(drift);
        if window < MIN_VALIDITY {
            return Err(ConfigError::TtlTooShort {
                ttl: self.ttl,
                drift,
                validity: window,
                min: MIN_VALIDITY,
            });
        }
        let max_node_timeout = window / 3;
        let node_timeout = self
            .node_timeout
            .unwrap_or_else(|| (window / 10).clamp(1, DEFAULT_NODE_TIMEOUT_CAP));
        if node_timeout == 0 || node_timeout > max_node_timeout {
            return Err(ConfigError::InvalidNodeTimeout {
                node_timeout,
                max: max_node_timeout,
            });
        }
        self.retry.validate()?;
        check_namespace(&self.namespace)?;
        // `nodes` <= 64 was checked above.
        let nodes = self.nodes as u16;
        Ok(Params {
            nodes,
            quorum: nodes / 2 + 1,
            ttl: self.ttl,
            drift,
            window,
            node_timeout,
            retry: self.retry,
            auto_extend: self.auto_extend,
            fencing: self.fencing,
        })
    }
}

/// `ceil(ttl * drift_ppm / 1_000_000) + 2`, in integers so every language agrees.
#[must_use]
pub const fn drift_allowance(ttl: u64, drift_ppm: u32) -> u64 {
    // ttl <= 2^31 and ppm <= 10^6 keep the product far below 2^64.
    (ttl * drift_ppm as u64).div_ceil(1_000_000) + CLOCK_PRECISION
}

fn check_namespace(namespace: &str) -> Result<(), ConfigError> {
    let ok = !namespace.is_empty()
        && namespace.len() <= MAX_NAMESPACE_LEN
        && !namespace
            .chars()
            .any(|c| c == '{' || c == '}' || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ConfigError::InvalidNamespace {
            max: MAX_NAMESPACE_LEN,
        })
    }
}

/// Numbers derived from a validated [`RedlockConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Params {
    /// Number of masters.
    pub nodes: u16,
    /// `nodes / 2 + 1`.
    pub quorum: u16,
    /// Key TTL, in ms.
    pub ttl: u64,
    /// Drift allowance, in ms.
    pub drift: u64,
    /// Validity window `ttl - drift`, in ms: a lease is valid until
    /// `attempt start + window`.
    pub window: u64,
    /// Per-node reply timeout, in ms.
    pub node_timeout: u64,
    /// Retry schedule.
    pub retry: RetryPolicy,
    /// Whether the lease extends itself.
    pub auto_extend: bool,
    /// Whether fencing counters are kept.
    pub fencing: bool,
}

impl Params {
    /// Most failures (conflicts, errors, timeouts) an operation can absorb and still
    /// reach a quorum.
    #[must_use]
    pub const fn tolerated_failures(&self) -> u16 {
        self.nodes - self.quorum
    }

    /// How long before the end of validity auto-extension starts: a third of the window.
    #[must_use]
    pub const fn extend_lead(&self) -> u64 {
        self.window / 3
    }

    /// How long before the end of validity a lease is declared lost when it could not
    /// be extended: `node_timeout` with auto-extension (so the holder is told while
    /// the lease is still valid), zero without.
    #[must_use]
    pub const fn lost_lead(&self) -> u64 {
        if self.auto_extend {
            self.node_timeout
        } else {
            0
        }
    }

    /// Offset from the start of a validity period at which the expiry warning fires:
    /// 80 % of the TTL.
    #[must_use]
    pub const fn warn_after(&self) -> u64 {
        self.ttl * 4 / 5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_is_ceil_of_ppm_plus_two() {
        assert_eq!(drift_allowance(10_000, 10_000), 102);
        assert_eq!(drift_allowance(1, 10_000), 3);
        assert_eq!(drift_allowance(150, 10_000), 4);
        assert_eq!(drift_allowance(100, 10_000), 3);
        assert_eq!(drift_allowance(MAX_TTL, MAX_DRIFT_PPM), 1_073_741_826);
        assert_eq!(drift_allowance(5000, 0), 2);
    }

    #[test]
    fn quorum_is_a_strict_majority() {
        for (nodes, quorum) in [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (64, 33)] {
            let params = RedlockConfig::new(nodes, 10_000).validate().unwrap();
            assert_eq!(params.quorum, quorum, "nodes = {nodes}");
        }
    }

    #[test]
    fn short_ttls_are_config_errors_not_underflows() {
        for ttl in [1, 2, 3, 4, 5] {
            let err = RedlockConfig::new(3, ttl).validate().unwrap_err();
            assert_eq!(err.code(), "TTL_TOO_SHORT", "ttl = {ttl}");
        }
        assert!(RedlockConfig::new(3, 6).validate().is_ok());
        assert_eq!(
            RedlockConfig::new(3, 0).validate().unwrap_err().code(),
            "INVALID_TTL"
        );
        assert_eq!(
            RedlockConfig::new(3, MAX_TTL + 1)
                .validate()
                .unwrap_err()
                .code(),
            "INVALID_TTL"
        );
    }

    #[test]
    fn derived_node_timeout_is_a_tenth_of_the_window_capped() {
        assert_eq!(
            RedlockConfig::new(5, 10_000)
                .validate()
                .unwrap()
                .node_timeout,
            200
        );
        assert_eq!(
            RedlockConfig::new(5, 1_000)
                .validate()
                .unwrap()
                .node_timeout,
            98
        );
        assert_eq!(RedlockConfig::new(5, 6).validate().unwrap().node_timeout, 1);
    }
}
