//! Vocabulary shared by every machine: time, ids, lock values.

use alloc::string::String;
use core::fmt;

use crate::UsageError;

/// Largest time value a machine accepts: 2^53 - 1 ms, so every binding can carry
/// times as plain numbers (JavaScript numbers are exact up to 2^53).
pub const MAX_TIME: u64 = (1 << 53) - 1;

/// Milliseconds on the host's monotonic clock. Only differences are meaningful.
///
/// Hosts use their monotonic clock (`time.monotonic_ns() // 1_000_000` in Python,
/// `performance.now()` in JavaScript, `Instant` in Rust), never wall-clock time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct Millis(pub u64);

impl Millis {
    /// Zero milliseconds.
    pub const ZERO: Millis = Millis(0);

    /// `self + ms`, saturating at `u64::MAX` (never reached for times below [`MAX_TIME`]).
    #[must_use]
    pub const fn plus(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }

    /// Checks an input's time against the latest one the machine has seen: at
    /// most [`MAX_TIME`], and never earlier than `last`.
    pub(crate) fn check_input(self, last: Millis) -> Result<(), UsageError> {
        if self.0 > MAX_TIME {
            return Err(UsageError::TimeOutOfRange { got: self });
        }
        if self < last {
            return Err(UsageError::NonMonotonicTime { last, got: self });
        }
        Ok(())
    }

    /// `self - earlier`, or zero when `earlier` is later.
    #[must_use]
    pub const fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Whether a lock value, election value or node data fits: at most `max` bytes,
/// no control characters (emptiness is each caller's rule).
pub(crate) fn is_printable(value: &str, max: usize) -> bool {
    value.len() <= max && !value.chars().any(char::is_control)
}

/// The earlier of two optional instants (`None` when both are).
pub(crate) fn earliest(a: Option<Millis>, b: Option<Millis>) -> Option<Millis> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Keeps in `best` the earliest of the timers offered (the first one on a tie);
/// a `None` instant is no timer.
pub(crate) fn keep_earliest<T>(best: &mut Option<(Millis, T)>, at: Option<Millis>, timer: T) {
    if let Some(at) = at {
        if best.as_ref().is_none_or(|(b, _)| at < *b) {
            *best = Some((at, timer));
        }
    }
}

/// Index of a lock server in the configured node list (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct NodeId(pub u16);

/// Identifier the core assigns to each command (a counter from 1); the host echoes
/// it back in the reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Formats 16 bytes from the host's CSPRNG as a random (version 4) UUID string,
/// the lock value every binding uses. The core draws no randomness itself.
///
/// ```
/// let value = fencelock_core::lock_value_from_random([7u8; 16]);
/// assert_eq!(value, "07070707-0707-4707-8707-070707070707");
/// ```
#[must_use]
pub fn lock_value_from_random(bytes: [u8; 16]) -> String {
    let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    String::from(uuid.hyphenated().encode_lower(&mut buf))
}

/// Parses a non-empty string of ASCII decimal digits into a `u64` (no sign, no
/// spaces), or `None` when it is not one or does not fit.
#[cfg(any(feature = "serde", feature = "lean-json"))]
#[must_use]
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A 64-bit identifier that JSON carries as a string of decimal digits (etcd
/// lease ids, ZooKeeper session ids and zxids exceed 2^53): the newtype, its
/// `Display`, and with `serde` its (de)serialization; `$what` names it in
/// messages.
macro_rules! decimal_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u64);

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0)
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl serde::de::Visitor<'_> for Visitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                        f.write_str(concat!("a ", $what, " as a string of decimal digits"))
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        $crate::types::parse_decimal(v).map($name).ok_or_else(|| {
                            E::custom(concat!($what, " must be decimal digits that fit in u64"))
                        })
                    }
                }
                deserializer.deserialize_str(Visitor)
            }
        }
    };
}
pub(crate) use decimal_id;
