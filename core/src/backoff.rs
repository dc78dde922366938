//! Retry schedule: exponential or fixed backoff, with jitter drawn from a seeded PRNG
//! so that every run replays exactly.
//!
//! The `k`-th retry (k = 1 after the first failed attempt) waits
//!
//! ```text
//! base  = fixed:        base_delay
//!         exponential:  min(base_delay * 2^(k-1), max_delay)
//! delay = max(0, base + (splitmix64() % (2 * jitter + 1)) - jitter)
//! ```
//!
//! One PRNG value is drawn per retry, also when `jitter` is zero.

use crate::error::ConfigError;
use crate::types::Millis;

/// Largest delay or jitter a retry policy accepts: one hour.
pub const MAX_RETRY_DELAY: u64 = 3_600_000;

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fully specified PRNG, so jitter is
/// identical in every language and every replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64-bit value.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// How the delay grows between attempts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Backoff {
    /// Every retry waits `base_delay` (plus jitter).
    Fixed,
    /// The k-th retry waits `base_delay * 2^(k-1)`, capped at `max_delay` (plus jitter).
    #[default]
    Exponential,
}

/// When and how often a failed acquisition attempt is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in total, the first one included; `None` retries until the caller's
    /// deadline (or forever, if there is none). Default 10.
    pub max_attempts: Option<u32>,
    /// Delay before the first retry, in ms. Default 100.
    pub base_delay: u64,
    /// Cap for exponential growth, in ms. Default 1600.
    pub max_delay: u64,
    /// Fixed or exponential. Default exponential.
    pub backoff: Backoff,
    /// Each delay moves by a uniform random amount in `[-jitter, +jitter]` ms. Default 50.
    pub jitter: u64,
}

/// What [`RetryPolicy::next_attempt`] decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NextAttempt {
    /// Start the next attempt at this time.
    At(Millis),
    /// The policy allows no more attempts.
    Exhausted,
    /// The next attempt would start at or after the deadline.
    PastDeadline,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: Some(10),
            base_delay: 100,
            max_delay: 1600,
            backoff: Backoff::Exponential,
            jitter: 50,
        }
    }
}

impl RetryPolicy {
    /// A single attempt, no retry (a try-lock).
    #[must_use]
    pub fn no_retry() -> Self {
        RetryPolicy {
            max_attempts: Some(1),
            ..RetryPolicy::default()
        }
    }

    /// Every retry waits `delay` ms, moved by up to `jitter` ms either way.
    #[must_use]
    pub fn fixed(delay: u64, jitter: u64) -> Self {
        RetryPolicy {
            base_delay: delay,
            max_delay: delay,
            backoff: Backoff::Fixed,
            jitter,
            ..RetryPolicy::default()
        }
    }

    /// Retries wait `base`, `2 * base`, `4 * base` ... ms up to `max`, moved by up to
    /// `jitter` ms either way.
    #[must_use]
    pub fn exponential(base: u64, max: u64, jitter: u64) -> Self {
        RetryPolicy {
            base_delay: base,
            max_delay: max,
            backoff: Backoff::Exponential,
            jitter,
            ..RetryPolicy::default()
        }
    }

    /// The same policy with another attempt limit (`None`: until the deadline).
    #[must_use]
    pub fn with_max_attempts(mut self, max_attempts: Option<u32>) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Checks the policy; returns [`ConfigError::InvalidRetry`] when it is inconsistent.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let reason = if self.max_attempts == Some(0) {
            "max_attempts must be at least 1 (null retries until the deadline)"
        } else if self.base_delay > self.max_delay {
            "base_delay must not exceed max_delay"
        } else if self.max_delay > MAX_RETRY_DELAY {
            "max_delay must be at most one hour"
        } else if self.jitter > MAX_RETRY_DELAY {
            "jitter must be at most one hour"
        } else {
            return Ok(());
        };
        Err(ConfigError::InvalidRetry { reason })
    }

    /// Whether another attempt may follow attempt number `attempts_made` (from 1).
    #[must_use]
    pub fn allows_attempt_after(&self, attempts_made: u32) -> bool {
        self.max_attempts.is_none_or(|max| attempts_made < max)
    }

    /// When the attempt after `made` failed ones (from 1) may start, seen at
    /// `now`: after the backoff delay (one draw from `rng`), unless the policy
    /// allows no more attempts or the start would be at or after `deadline`.
    pub(crate) fn next_attempt(
        &self,
        made: u32,
        now: Millis,
        deadline: Option<Millis>,
        rng: &mut SplitMix64,
    ) -> NextAttempt {
        if !self.allows_attempt_after(made) {
            return NextAttempt::Exhausted;
        }
        let at = now.plus(self.delay(made, rng));
        if deadline.is_some_and(|d| at >= d) {
            NextAttempt::PastDeadline
        } else {
            NextAttempt::At(at)
        }
    }

    /// Delay in ms before retry number `retry` (1 for the first retry), drawing one
    /// value from `rng`.
    pub fn delay(&self, retry: u32, rng: &mut SplitMix64) -> u64 {
        let base = match self.backoff {
            Backoff::Fixed => self.base_delay,
            Backoff::Exponential => {
                let shift = retry.saturating_sub(1);
                if shift >= 63 {
                    self.max_delay
                } else {
                    self.base_delay
                        .saturating_mul(1u64 << shift)
                        .min(self.max_delay)
                }
            }
        };
        let span = 2 * self.jitter + 1;
        let offset = rng.next_u64() % span;
        (base + offset).saturating_sub(self.jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // First outputs for seed 1234567 from the reference C implementation
        // (Vigna, prng.di.unimi.it/splitmix64.c).
        let mut rng = SplitMix64::new(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
        assert_eq!(rng.next_u64(), 9_817_491_932_198_370_423);
    }

    #[test]
    fn exponential_delays_double_up_to_the_cap() {
        let policy = RetryPolicy::exponential(100, 1600, 0);
        let mut rng = SplitMix64::new(0);
        let delays: alloc::vec::Vec<u64> = (1..=7).map(|k| policy.delay(k, &mut rng)).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 1600, 1600]);
        assert_eq!(policy.delay(u32::MAX, &mut rng), 1600);
    }

    #[test]
    fn jitter_stays_inside_its_bounds_and_never_underflows() {
        let policy = RetryPolicy::fixed(10, 50);
        let mut rng = SplitMix64::new(42);
        for k in 1..1000 {
            assert!(policy.delay(k, &mut rng) <= 60);
        }
    }

    #[test]
    fn zero_attempts_is_rejected() {
        let policy = RetryPolicy {
            max_attempts: Some(0),
            ..RetryPolicy::default()
        };
        assert_eq!(policy.validate().unwrap_err().code(), "INVALID_RETRY");
        assert!(RetryPolicy::no_retry().validate().is_ok());
        assert!(!RetryPolicy::no_retry().allows_attempt_after(1));
    }
}
