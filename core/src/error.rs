//! Typed errors with stable, cross-language codes.
//!
//! `Err` only ever means the caller misused the API ([`UsageError`]) or built a
//! machine from an invalid configuration ([`ConfigError`]). Lock outcomes (busy,
//! node down, quorum missed, lease lost) are events, never errors. Every code is
//! listed in `conformance/errors.json` and surfaced unchanged by every binding.

use crate::types::{Millis, NodeId, RequestId};

/// The caller misused a machine. The machine is left unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// An input carried a time earlier than one already seen.
    #[error("time went backwards: got {got}, already saw {last}")]
    NonMonotonicTime {
        /// Latest time the machine has seen.
        last: Millis,
        /// Time carried by the rejected input.
        got: Millis,
    },
    /// An input carried a time above [`crate::MAX_TIME`].
    #[error("time {got} is above the supported maximum of 2^53-1 ms")]
    TimeOutOfRange {
        /// Time carried by the rejected input.
        got: Millis,
    },
    /// A reply named a request this machine never issued.
    #[error("reply for unknown request {req}")]
    UnknownRequest {
        /// Request id carried by the reply.
        req: RequestId,
    },
    /// A second reply arrived for a request that was already answered.
    #[error("second reply for request {req}")]
    DuplicateReply {
        /// Request id carried by the reply.
        req: RequestId,
    },
    /// A reply named a node outside the configured node list.
    #[error("reply names node {node:?}, but only {nodes} nodes are configured")]
    UnknownNode {
        /// Node named by the reply.
        node: NodeId,
        /// Number of configured nodes.
        nodes: u16,
    },
    /// A reply named a different node than the one its request was sent to.
    #[error("reply for request {req} names node {got:?}, but it was sent to node {sent:?}")]
    NodeMismatch {
        /// Request id carried by the reply.
        req: RequestId,
        /// Node the request was sent to.
        sent: NodeId,
        /// Node named by the reply.
        got: NodeId,
    },
    /// The input is not valid in the machine's current state.
    #[error("{input} is not allowed while the lock is {state}")]
    InvalidState {
        /// Kind of input that was rejected.
        input: &'static str,
        /// State the machine is in.
        state: &'static str,
    },
    /// The lease was already lost; it can be released but no longer extended.
    #[error("the lease was lost: it can be released, not extended")]
    LeaseLost,
    /// The machine does not take this kind of input at all (e.g. `proclaim` on a mutex).
    #[error("{machine} does not accept {input}")]
    UnsupportedInput {
        /// Kind of input that was rejected.
        input: &'static str,
        /// Machine that rejected it.
        machine: &'static str,
    },
    /// A value carried by the input is empty, too long, or contains control characters.
    #[error("value must be 1 to {max} printable characters")]
    InvalidValue {
        /// Supported maximum length in bytes.
        max: usize,
    },
    /// A ZooKeeper `connected` input named session id 0 (the owner id of a
    /// persistent node, never a session).
    #[error("session id 0 is not a session")]
    InvalidSession,
}

impl UsageError {
    /// Stable cross-language code, e.g. `"NON_MONOTONIC_TIME"`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            UsageError::NonMonotonicTime { .. } => "NON_MONOTONIC_TIME",
            UsageError::TimeOutOfRange { .. } => "TIME_OUT_OF_RANGE",
            UsageError::UnknownRequest { .. } => "UNKNOWN_REQUEST",
            UsageError::DuplicateReply { .. } => "DUPLICATE_REPLY",
            UsageError::UnknownNode { .. } => "UNKNOWN_NODE",
            UsageError::NodeMismatch { .. } => "NODE_MISMATCH",
            UsageError::InvalidState { .. } => "INVALID_STATE",
            UsageError::LeaseLost => "LEASE_LOST",
            UsageError::UnsupportedInput { .. } => "UNSUPPORTED_INPUT",
            UsageError::InvalidValue { .. } => "INVALID_VALUE",
            UsageError::InvalidSession => "INVALID_SESSION",
        }
    }
}

/// A machine could not be built from its configuration or initial arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The node list is empty.
    #[error("at least one node is required")]
    NoNodes,
    /// More nodes than [`crate::redlock::MAX_NODES`].
    #[error("{nodes} nodes configured; at most {max} are supported")]
    TooManyNodes {
        /// Number of nodes requested.
        nodes: u32,
        /// Supported maximum.
        max: u16,
    },
    /// The TTL is zero or above the supported maximum.
    #[error("ttl must be between 1 and {max} ms, got {ttl}")]
    InvalidTtl {
        /// TTL requested, in ms.
        ttl: u64,
        /// Supported maximum, in ms.
        max: u64,
    },
    /// The TTL leaves (almost) no validity once the clock-drift allowance is taken off.
    #[error("ttl {ttl} ms leaves {validity} ms of validity after the {drift} ms drift allowance; at least {min} ms are needed")]
    TtlTooShort {
        /// TTL requested, in ms.
        ttl: u64,
        /// Drift allowance for that TTL, in ms.
        drift: u64,
        /// `ttl - drift`, or 0.
        validity: u64,
        /// Smallest usable validity, in ms.
        min: u64,
    },
    /// The drift allowance (parts per million of the TTL) is out of range.
    #[error("drift_ppm must be at most {max}, got {drift_ppm}")]
    InvalidDrift {
        /// Value requested.
        drift_ppm: u32,
        /// Supported maximum.
        max: u32,
    },
    /// The per-node (Redlock `node_timeout`) or per-request (etcd `request_timeout`)
    /// timeout is zero or not far enough below the validity window.
    #[error("the node / request timeout must be between 1 ms and a third of the validity window ({max} ms), got {node_timeout}")]
    InvalidNodeTimeout {
        /// Value requested, in ms.
        node_timeout: u64,
        /// Largest allowed value for this TTL, in ms.
        max: u64,
    },
    /// The retry policy is inconsistent (zero attempts, base delay above the cap, ...).
    #[error("invalid retry policy: {reason}")]
    InvalidRetry {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The acquire timeout is zero or above the supported maximum.
    #[error("acquire timeout must be between 1 ms and {max} ms, got {timeout}")]
    InvalidTimeout {
        /// Value requested, in ms.
        timeout: u64,
        /// Supported maximum, in ms.
        max: u64,
    },
    /// No resource to lock was given.
    #[error("at least one resource name is required")]
    NoResources,
    /// More resources than [`crate::redlock::MAX_RESOURCES`] in one lock.
    #[error("{count} resources in one lock; at most {max} are supported")]
    TooManyResources {
        /// Number of resources requested.
        count: usize,
        /// Supported maximum.
        max: usize,
    },
    /// A resource name is empty.
    #[error("resource names must not be empty")]
    EmptyResource,
    /// A resource name is longer than [`crate::redlock::MAX_RESOURCE_LEN`] bytes.
    #[error("resource name of {len} bytes; at most {max} bytes are supported")]
    ResourceTooLong {
        /// Length of the name in UTF-8 bytes.
        len: usize,
        /// Supported maximum.
        max: usize,
    },
    /// The same resource appears twice in one lock.
    #[error("resource {name:?} appears more than once")]
    DuplicateResource {
        /// The repeated name.
        name: alloc::string::String,
    },
    /// The lock value is empty, too long, or contains control characters.
    #[error("lock value must be 1 to {max} printable characters")]
    InvalidValue {
        /// Supported maximum length in bytes.
        max: usize,
    },
    /// The key namespace is empty, too long, or contains `{`, `}` or control characters.
    #[error("namespace must be 1 to {max} bytes without braces or control characters")]
    InvalidNamespace {
        /// Supported maximum length in bytes.
        max: usize,
    },
    /// The initial time is above [`crate::MAX_TIME`].
    #[error("time {got} is above the supported maximum of 2^53-1 ms")]
    TimeOutOfRange {
        /// Time passed in.
        got: Millis,
    },
    /// The etcd wait mode is inconsistent (poll interval or watch recheck out of range).
    #[error("invalid wait mode: {reason}")]
    InvalidWait {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A lock name or path breaks its backend's rules (ZooKeeper path rules; a NUL
    /// in a PostgreSQL name).
    #[error("invalid lock name or path: {reason}")]
    InvalidName {
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The ZooKeeper session passed to a machine is not usable (session id 0).
    #[error("invalid session: {reason}")]
    InvalidSession {
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl ConfigError {
    /// Stable cross-language code, e.g. `"TTL_TOO_SHORT"`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            ConfigError::NoNodes => "NO_NODES",
            ConfigError::TooManyNodes { .. } => "TOO_MANY_NODES",
            ConfigError::InvalidTtl { .. } => "INVALID_TTL",
            ConfigError::TtlTooShort { .. } => "TTL_TOO_SHORT",
            ConfigError::InvalidDrift { .. } => "INVALID_DRIFT",
            ConfigError::InvalidNodeTimeout { .. } => "INVALID_NODE_TIMEOUT",
            ConfigError::InvalidRetry { .. } => "INVALID_RETRY",
            ConfigError::InvalidTimeout { .. } => "INVALID_TIMEOUT",
            ConfigError::NoResources => "NO_RESOURCES",
            ConfigError::TooManyResources { .. } => "TOO_MANY_RESOURCES",
            ConfigError::EmptyResource => "EMPTY_RESOURCE",
            ConfigError::ResourceTooLong { .. } => "RESOURCE_TOO_LONG",
            ConfigError::DuplicateResource { .. } => "DUPLICATE_RESOURCE",
            ConfigError::InvalidValue { .. } => "INVALID_VALUE",
            ConfigError::InvalidNamespace { .. } => "INVALID_NAMESPACE",
            ConfigError::TimeOutOfRange { .. } => "TIME_OUT_OF_RANGE",
            ConfigError::InvalidWait { .. } => "INVALID_WAIT",
            ConfigError::InvalidName { .. } => "INVALID_NAME",
            ConfigError::InvalidSession { .. } => "INVALID_SESSION",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// One value of every `UsageError` variant. The match below stops compiling
    /// when a variant is added, so this list (and `conformance/errors.json`) cannot
    /// silently fall behind.
    fn every_usage_error() -> Vec<UsageError> {
        let all = vec![
            UsageError::NonMonotonicTime {
                last: Millis(2),
                got: Millis(1),
            },
            UsageError::TimeOutOfRange { got: Millis(0) },
            UsageError::UnknownRequest { req: RequestId(9) },
            UsageError::DuplicateReply { req: RequestId(1) },
            UsageError::UnknownNode {
                node: NodeId(7),
                nodes: 3,
            },
            UsageError::NodeMismatch {
                req: RequestId(1),
                sent: NodeId(0),
                got: NodeId(1),
            },
            UsageError::InvalidState {
                input: "extend",
                state: "acquiring",
            },
            UsageError::LeaseLost,
            UsageError::UnsupportedInput {
                input: "proclaim",
                machine: "etcd_mutex",
            },
            UsageError::InvalidValue { max: 4096 },
            UsageError::InvalidSession,
        ];
        for error in &all {
            match error {
                UsageError::NonMonotonicTime { .. }
                | UsageError::TimeOutOfRange { .. }
                | UsageError::UnknownRequest { .. }
                | UsageError::DuplicateReply { .. }
                | UsageError::UnknownNode { .. }
                | UsageError::NodeMismatch { .. }
                | UsageError::InvalidState { .. }
                | UsageError::LeaseLost
                | UsageError::UnsupportedInput { .. }
                | UsageError::InvalidValue { .. }
                | UsageError::InvalidSession => {}
            }
        }
        all
    }

    /// One value of every `ConfigError` variant (kept complete the same way).
    fn every_config_error() -> Vec<ConfigError> {
        let all = vec![
            ConfigError::NoNodes,
            ConfigError::TooManyNodes { nodes: 65, max: 64 },
            ConfigError::InvalidTtl { ttl: 0, max: 1 },
            ConfigError::TtlTooShort {
                ttl: 3,
                drift: 3,
                validity: 0,
                min: 3,
            },
            ConfigError::InvalidDrift {
                drift_ppm: 1,
                max: 0,
            },
            ConfigError::InvalidNodeTimeout {
                node_timeout: 0,
                max: 1,
            },
            ConfigError::InvalidRetry { reason: "test" },
            ConfigError::InvalidTimeout { timeout: 0, max: 1 },
            ConfigError::NoResources,
            ConfigError::TooManyResources { count: 65, max: 64 },
            ConfigError::EmptyResource,
            ConfigError::ResourceTooLong { len: 513, max: 512 },
            ConfigError::DuplicateResource {
                name: alloc::string::String::from("a"),
            },
            ConfigError::InvalidValue { max: 128 },
            ConfigError::InvalidNamespace { max: 64 },
            ConfigError::TimeOutOfRange { got: Millis(0) },
            ConfigError::InvalidWait { reason: "test" },
            ConfigError::InvalidName { reason: "test" },
            ConfigError::InvalidSession { reason: "test" },
        ];
        for error in &all {
            match error {
                ConfigError::NoNodes
                | ConfigError::TooManyNodes { .. }
                | ConfigError::InvalidTtl { .. }
                | ConfigError::TtlTooShort { .. }
                | ConfigError::InvalidDrift { .. }
                | ConfigError::InvalidNodeTimeout { .. }
                | ConfigError::InvalidRetry { .. }
                | ConfigError::InvalidTimeout { .. }
                | ConfigError::NoResources
                | ConfigError::TooManyResources { .. }
                | ConfigError::EmptyResource
                | ConfigError::ResourceTooLong { .. }
                | ConfigError::DuplicateResource { .. }
                | ConfigError::InvalidValue { .. }
                | ConfigError::InvalidNamespace { .. }
                | ConfigError::TimeOutOfRange { .. }
                | ConfigError::InvalidWait { .. }
                | ConfigError::InvalidName { .. }
                | ConfigError::InvalidSession { .. } => {}
            }
        }
        all
    }

    fn codes_in(json: &str, section: &str) -> Vec<alloc::string::String> {
        let errors: serde_json::Value = serde_json::from_str(json).expect("errors.json is JSON");
        errors[section]
            .as_object()
            .expect("section present")
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn errors_json_lists_every_code() {
        let json = include_str!("../../conformance/errors.json");
        let mut usage: Vec<_> = every_usage_error().iter().map(|e| e.code()).collect();
        let mut config: Vec<_> = every_config_error().iter().map(|e| e.code()).collect();
        usage.sort_unstable();
        config.sort_unstable();
        assert_eq!(codes_in(json, "usage"), usage);
        assert_eq!(codes_in(json, "config"), config);
        for error in every_usage_error() {
            assert!(!alloc::format!("{error}").is_empty());
        }
    }
}
