//! Definitions the etcd, ZooKeeper and PostgreSQL hosts share: their host error,
//! their acquire error and the drive loop's wake-up instant.

use std::fmt;
use std::time::Instant;

use fencelock_core::{ConfigError, Millis, UsageError};

use crate::clock;

/// The host itself went wrong (a bug in this host or in the core, never a lock
/// outcome). [`etcd::EtcdHostError`](crate::etcd::EtcdHostError),
/// [`zookeeper::ZkHostError`](crate::zookeeper::ZkHostError) and
/// [`advisory::PgHostError`](crate::advisory::PgHostError) name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineHostError {
    /// The machine refused an input the host built.
    Usage(UsageError),
    /// The machine asked for nothing more (no timer, no pending reply) before the
    /// operation ended.
    Stalled(&'static str),
    /// The machine emitted an output this host does not know (a newer core).
    UnknownOutput(String),
}

impl fmt::Display for MachineHostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MachineHostError::Usage(e) => {
                write!(f, "host bug: machine refused input ({}): {e}", e.code())
            }
            MachineHostError::Stalled(state) => write!(f, "host bug: machine stalled in {state}"),
            MachineHostError::UnknownOutput(o) => write!(f, "unknown machine output: {o}"),
        }
    }
}

impl std::error::Error for MachineHostError {}

impl From<UsageError> for MachineHostError {
    fn from(e: UsageError) -> Self {
        MachineHostError::Usage(e)
    }
}

/// How an [`MachineAcquireError::Failed`] message sums up the attempt (the
/// backend's acquire statistics).
pub trait AttemptSummary {
    /// Writes the summary that follows "not acquired (reason) ".
    ///
    /// # Errors
    /// The formatter's.
    fn summarize(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// Why a host returned no lock, generic over the backend's failure reason `F`,
/// statistics `S` and lost reason `L` ([`std::convert::Infallible`] where a queued
/// place cannot be lost). [`etcd::EtcdAcquireError`](crate::etcd::EtcdAcquireError),
/// [`zookeeper::ZkAcquireError`](crate::zookeeper::ZkAcquireError) and
/// [`advisory::PgAcquireError`](crate::advisory::PgAcquireError) name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineAcquireError<F, S, L> {
    /// The configuration or arguments were refused by the core.
    Config(ConfigError),
    /// The machine's `acquire_failed`: try-lock found it held, the deadline passed,
    /// the acquisition was cancelled, or requests kept failing.
    Failed {
        /// Why.
        reason: F,
        /// How it went.
        stats: S,
    },
    /// Our queue place (lease, key, node or session) was lost while queued (never
    /// held).
    Lost(L),
    /// A host bug.
    Host(MachineHostError),
}

impl<F: fmt::Debug, S: AttemptSummary, L: fmt::Debug> fmt::Display
    for MachineAcquireError<F, S, L>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MachineAcquireError::Config(e) => write!(f, "invalid config ({}): {e}", e.code()),
            MachineAcquireError::Failed { reason, stats } => {
                write!(f, "not acquired ({reason:?}) ")?;
                stats.summarize(f)
            }
            MachineAcquireError::Lost(reason) => write!(f, "lost while queued ({reason:?})"),
            MachineAcquireError::Host(e) => e.fmt(f),
        }
    }
}

impl<F: fmt::Debug, S: AttemptSummary + fmt::Debug, L: fmt::Debug> std::error::Error
    for MachineAcquireError<F, S, L>
{
}

impl<F, S, L> From<MachineHostError> for MachineAcquireError<F, S, L> {
    fn from(e: MachineHostError) -> Self {
        MachineAcquireError::Host(e)
    }
}

/// When a drive loop next has to wake: the machine's timer or `until`, whichever
/// comes first; `None` when there is neither.
pub(crate) fn next_wake(timer: Option<Millis>, until: Option<Instant>) -> Option<Instant> {
    match (timer.map(clock::instant_of), until) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
