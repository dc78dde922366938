//! Configuration of the ZooKeeper machines, its validation, the numbers derived
//! from it, ZooKeeper's path rules, and the arguments that start each machine.

use alloc::string::String;

use super::protocol::SessionId;
use crate::backoff::{RetryPolicy, MAX_RETRY_DELAY};
use crate::error::ConfigError;
use crate::redlock::config::check_start_time;
use crate::redlock::{drift_allowance, MAX_DRIFT_PPM, MAX_TTL, MIN_VALIDITY};
use crate::types::is_printable;
use crate::types::Millis;

/// Longest lock path, in UTF-8 bytes (our node's name adds about 60 bytes).
pub const MAX_PATH_LEN: usize = 512;
/// Longest node guid, in bytes.
pub const MAX_GUID_LEN: usize = 64;
/// Longest node data (a lock's identifier, an election's value), in bytes.
pub const MAX_DATA_LEN: usize = 4_096;
/// Default cap on the derived request timeout, in ms.
pub const DEFAULT_REQUEST_TIMEOUT_CAP: u64 = 2_000;

/// How a ZooKeeper lock or election behaves. Every field has a default; JSON
/// configs may leave any of them out. The session itself (id and negotiated
/// timeout) comes with the machine's arguments: it belongs to the host's client.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct ZooKeeperConfig {
    /// Clock-drift allowance in parts per million of the session timeout. Default
    /// 10 000 (1 %).
    #[cfg_attr(feature = "serde", serde(default = "default_drift_ppm"))]
    pub drift_ppm: u32,
    /// How long to wait for one reply, in ms. Default: a third of the validity
    /// window, at most 2 s. Must not exceed a third of the window.
    #[cfg_attr(feature = "serde", serde(default))]
    pub request_timeout: Option<u64>,
    /// A waiter whose predecessor's watch has not fired for this many ms lists the
    /// children again (a lost notification delays it, never strands it). Default:
    /// the session timeout (at most one hour).
    #[cfg_attr(feature = "serde", serde(default))]
    pub recheck: Option<u64>,
    /// Retry schedule for failed requests.
    #[cfg_attr(feature = "serde", serde(default))]
    pub retry: RetryPolicy,
    /// Seed of the jitter PRNG (hosts pass random bits; vectors pin it).
    #[cfg_attr(feature = "serde", serde(default))]
    pub rng_seed: u64,
}

#[cfg(any(feature = "serde", feature = "lean-json"))]
pub(crate) use crate::redlock::config::default_drift_ppm;

impl Default for ZooKeeperConfig {
    fn default() -> Self {
        ZooKeeperConfig {
            drift_ppm: crate::redlock::config::DEFAULT_DRIFT_PPM,
            request_timeout: None,
            recheck: None,
            retry: RetryPolicy::default(),
            rng_seed: 0,
        }
    }
}

impl ZooKeeperConfig {
    /// A configuration with every default.
    #[must_use]
    pub fn new() -> Self {
        ZooKeeperConfig::default()
    }

    /// Checks the configuration against the session's negotiated timeout (ms) and
    /// derives the numbers the machines use.
    pub fn validate(&self, session_timeout: u64) -> Result<Params, ConfigError> {
        if session_timeout == 0 || session_timeout > MAX_TTL {
            return Err(ConfigError::InvalidTtl {
                ttl: session_timeout,
                max: MAX_TTL,
            });
        }
        if self.drift_ppm > MAX_DRIFT_PPM {
            return Err(ConfigError::InvalidDrift {
                drift_ppm: self.drift_ppm,
                max: MAX_DRIFT_PPM,
            });
        }
        let drift = drift_allowance(session_timeout, self.drift_ppm);
        let window = session_timeout.saturating_sub(drift);
        if window < MIN_VALIDITY {
            return Err(ConfigError::TtlTooShort {
                ttl: session_timeout,
                drift,
                validity: window,
                min: MIN_VALIDITY,
            });
        }
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
        let recheck = self
            .recheck
            .unwrap_or_else(|| session_timeout.min(MAX_RETRY_DELAY));
        if recheck == 0 || recheck > MAX_RETRY_DELAY {
            return Err(ConfigError::InvalidWait {
                reason: "recheck must be between 1 ms and one hour",
            });
        }
        self.retry.validate()?;
        Ok(Params {
            session_timeout,
            window,
            check_interval: (session_timeout / 3).max(1),
            request_timeout,
            recheck,
            retry: self.retry,
        })
    }
}

/// Numbers derived from a validated [`ZooKeeperConfig`] and the session timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Params {
    /// The negotiated session timeout, in ms.
    pub session_timeout: u64,
    /// `session_timeout - drift`: how long a server answer keeps the session
    /// provably alive, counted from the request's send time.
    pub window: u64,
    /// Our node is checked (`exists`) this long after the last server answer: a
    /// third of the session timeout.
    pub check_interval: u64,
    /// Per-request reply timeout, in ms.
    pub request_timeout: u64,
    /// Re-list after this many ms without a watch notification.
    pub recheck: u64,
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
    /// Current time; the create is sent now.
    pub now: Millis,
    /// The lock's parent node, e.g. `/locks/orders` (created with its parents if
    /// missing). Our node is `<path>/<guid>-lock-<sequence>`.
    pub path: String,
    /// Random identifier of this acquisition (16 bytes from the host's CSPRNG
    /// through [`crate::lock_value_from_random`]); finds our node again when a
    /// create's reply is lost. `[A-Za-z0-9_-]`, 1 to [`MAX_GUID_LEN`] bytes.
    pub guid: String,
    /// The host client's session id (connected).
    pub session: SessionId,
    /// The session timeout the server negotiated, in ms.
    pub session_timeout: u64,
    /// Data of our node (an identifier for humans; kazoo and Curator store one too).
    /// Up to [`MAX_DATA_LEN`] bytes.
    #[cfg_attr(feature = "serde", serde(default))]
    pub value: String,
    /// Give up acquiring after this many ms (`null`: wait as long as it takes).
    #[cfg_attr(feature = "serde", serde(default))]
    pub timeout: Option<u64>,
    /// Try-lock: if another node holds the lock, delete ours and fail with `locked`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub try_lock: bool,
}

impl LockArgs {
    /// Arguments for locking `path` at `now` on session `session` (negotiated
    /// timeout `session_timeout` ms), our node named after `guid`.
    #[must_use]
    pub fn new(
        now: Millis,
        path: impl Into<String>,
        guid: impl Into<String>,
        session: SessionId,
        session_timeout: u64,
    ) -> Self {
        LockArgs {
            now,
            path: path.into(),
            guid: guid.into(),
            session,
            session_timeout,
            value: String::new(),
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

    /// The same arguments with node data `value`.
    #[must_use]
    pub fn with_value(mut self, value: impl Into<String>) -> Self {
        self.value = value.into();
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
    /// Current time; the create is sent now.
    pub now: Millis,
    /// The election's parent node.
    pub path: String,
    /// Random identifier of this campaign (see [`LockArgs::guid`]).
    pub guid: String,
    /// The host client's session id (connected).
    pub session: SessionId,
    /// The session timeout the server negotiated, in ms.
    pub session_timeout: u64,
    /// Who we are: our node's data, which observers read from the leader's node
    /// (1 to [`MAX_DATA_LEN`] bytes, no control characters).
    pub value: String,
    /// Give up campaigning after this many ms (`null`: wait as long as it takes).
    #[cfg_attr(feature = "serde", serde(default))]
    pub timeout: Option<u64>,
}

impl ElectionArgs {
    /// Arguments for campaigning in `path` with `value`.
    #[must_use]
    pub fn new(
        now: Millis,
        path: impl Into<String>,
        guid: impl Into<String>,
        session: SessionId,
        session_timeout: u64,
        value: impl Into<String>,
    ) -> Self {
        ElectionArgs {
            now,
            path: path.into(),
            guid: guid.into(),
            session,
            session_timeout,
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

/// Checks `path` against ZooKeeper's path rules (`PathUtils.validatePath`) plus
/// fencelock's own: absolute, no empty, `.` or `..` component, no trailing `/`,
/// none of the characters ZooKeeper refuses (NUL, U+0001-U+001F, U+007F-U+009F,
/// U+D800-U+F8FF, U+FFF0-U+FFFF, and so every character beyond U+FFFF, which Java
/// encodes with surrogates), not the root, not under `/zookeeper`, at most
/// [`MAX_PATH_LEN`] bytes.
pub fn check_path(path: &str) -> Result<(), ConfigError> {
    if path.is_empty() {
        return Err(ConfigError::EmptyResource);
    }
    if path.len() > MAX_PATH_LEN {
        return Err(ConfigError::ResourceTooLong {
            len: path.len(),
            max: MAX_PATH_LEN,
        });
    }
    let reason = if !path.starts_with('/') {
        Some("a ZooKeeper path starts with '/'")
    } else if path == "/" {
        Some("the lock path must not be the root")
    } else if path.ends_with('/') {
        Some("a ZooKeeper path must not end with '/'")
    } else if path == "/zookeeper" || path.starts_with("/zookeeper/") {
        Some("/zookeeper is reserved by ZooKeeper")
    } else if path[1..].split('/').any(|c| c.is_empty()) {
        Some("a ZooKeeper path has no empty component ('//')")
    } else if path[1..].split('/').any(|c| c == "." || c == "..") {
        Some("a ZooKeeper path has no '.' or '..' component")
    } else if path.chars().any(refused_by_zookeeper) {
        Some("ZooKeeper refuses NUL, control characters, U+D800-U+F8FF and U+FFF0 and above in paths")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ConfigError::InvalidName { reason }),
        None => Ok(()),
    }
}

/// The characters `PathUtils.validatePath` refuses (it sees UTF-16 units, so a
/// character beyond U+FFFF is refused as a surrogate pair).
fn refused_by_zookeeper(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{e000}'..='\u{f8ff}' | '\u{fff0}'..)
}

pub(crate) fn check_guid(guid: &str) -> Result<(), ConfigError> {
    let ok = !guid.is_empty()
        && guid.len() <= MAX_GUID_LEN
        && guid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::InvalidValue { max: MAX_GUID_LEN })
    }
}

pub(crate) fn check_data(value: &str, required: bool) -> Result<(), ConfigError> {
    let ok = (!required || !value.is_empty()) && is_printable(value, MAX_DATA_LEN);
    if ok {
        Ok(())
    } else {
        Err(ConfigError::InvalidValue { max: MAX_DATA_LEN })
    }
}

pub(crate) fn check_start(now: Millis, session: SessionId) -> Result<(), ConfigError> {
    check_start_time(now)?;
    if session.0 == 0 {
        return Err(ConfigError::InvalidSession {
            reason: "session id 0 marks a persistent node's owner, never a session",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_zookeeper_rules() {
        let code = |p: &str| check_path(p).err().map(|e| e.code());
        assert_eq!(code("/locks/orders"), None);
        assert_eq!(code("/a"), None);
        assert_eq!(code("/zookeeperish/x"), None);
        assert_eq!(code("/caf\u{e9}"), None);
        assert_eq!(code(""), Some("EMPTY_RESOURCE"));
        for bad in [
            "locks",
            "/",
            "/locks/",
            "/locks//x",
            "/locks/./x",
            "/locks/..",
            "/zookeeper",
            "/zookeeper/quota",
            "/a\u{0}b",
            "/a\u{1}b",
            "/a\u{85}b",
            "/a\u{f000}",
            "/a\u{fff5}",
            "/a\u{1f512}",
        ] {
            assert_eq!(code(bad), Some("INVALID_NAME"), "{bad:?}");
        }
        let long = alloc::format!("/{}", "x".repeat(MAX_PATH_LEN));
        assert_eq!(code(&long), Some("RESOURCE_TOO_LONG"));
    }

    #[test]
    fn defaults_follow_the_session_timeout() {
        let params = ZooKeeperConfig::new().validate(10_000).unwrap();
        assert_eq!(params.window, 9_898);
        assert_eq!(params.request_timeout, 2_000);
        assert_eq!(params.check_interval, 3_333);
        assert_eq!(params.recheck, 10_000);
        let params = ZooKeeperConfig::new().validate(4_000).unwrap();
        assert_eq!(params.request_timeout, 1_319);
        let code = |c: ZooKeeperConfig, t| c.validate(t).unwrap_err().code();
        assert_eq!(code(ZooKeeperConfig::new(), 0), "INVALID_TTL");
        assert_eq!(code(ZooKeeperConfig::new(), 4), "TTL_TOO_SHORT");
        let mut c = ZooKeeperConfig::new();
        c.request_timeout = Some(3_300);
        assert_eq!(code(c, 10_000), "INVALID_NODE_TIMEOUT");
        let mut c = ZooKeeperConfig::new();
        c.recheck = Some(0);
        assert_eq!(code(c, 10_000), "INVALID_WAIT");
    }
}
