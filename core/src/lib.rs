//! fencelock-core: sans-IO distributed lock state machines.
//!
//! The core never does I/O, never reads a clock and never draws randomness. The
//! host hands it time, replies and entropy; the core hands back commands,
//! deadlines and events. Every fencelock binding (Python, Node, WebAssembly) runs
//! these same machines, so a lock taken from any language follows one algorithm,
//! one key layout and one fencing rule.
//!
//! Machines: [`redlock::Redlock`] (N independent Redis masters, fencing tokens from
//! the quorum) and, in [`etcd`], a lease [`etcd::Mutex`], an [`etcd::Election`] and
//! an [`etcd::Observer`] that share their keys with etcd's Go `concurrency` package;
//! in [`zookeeper`], a [`zookeeper::Lock`] and a [`zookeeper::Election`] on the
//! ephemeral-sequential recipe (czxid tokens); [`advisory::Lock`], a PostgreSQL
//! advisory lock with a fencing counter.
//! [`wire`] has codecs for hosts without a client library (RESP2, the etcd JSON
//! gateway).
//!
//! # Driving a machine
//!
//! ```
//! use fencelock_core::redlock::{AcquireArgs, Event, Input, NodeReply, Output, Redlock, RedlockConfig};
//! use fencelock_core::{Machine, Millis, RequestId};
//!
//! let config = RedlockConfig::new(3, 10_000);
//! let args = AcquireArgs::new(Millis(1_000), vec!["orders:42".into()], "v-1".into());
//! let mut lock = Redlock::new(&config, args).unwrap();
//! // Perform each command (EVALSHA on node `n`), then feed the replies back.
//! let mut reqs = Vec::new();
//! while let Some(output) = lock.poll_output() {
//!     if let Output::Command(fencelock_core::redlock::Command::Eval(eval)) = output {
//!         reqs.push(eval.req);
//!     }
//! }
//! for (i, req) in reqs.into_iter().enumerate() {
//!     let reply = NodeReply::Int { value: 7 }; // fencing counter 7 on every node
//!     lock.handle_input(Input::Reply { now: Millis(1_004 + i as u64), req, node: None, result: reply }).unwrap();
//! }
//! let acquired = std::iter::from_fn(|| lock.poll_output())
//!     .any(|o| matches!(o, Output::Event(Event::Acquired { .. })));
//! assert!(acquired);
//! assert_eq!(lock.lease().unwrap().valid_until, Millis(1_000 + 10_000 - 102));
//! // Next deadline: the expiry warning at 80 % of the TTL.
//! assert_eq!(lock.poll_timeout(), Some(Millis(9_000)));
//! # let _ = RequestId(1);
//! ```
//!
//! The contract every machine follows:
//! - Time is [`Millis`] on the host's monotonic clock. An input whose time is
//!   earlier than one already seen is rejected with
//!   [`UsageError::NonMonotonicTime`] and the machine is unchanged.
//! - After each [`Machine::handle_input`], drain [`Machine::poll_output`] to
//!   `None`, then arm one timer for [`Machine::poll_timeout`]. An early or
//!   spurious timeout is a no-op. Before acting on an input, a machine fires
//!   every deadline that is due at the input's time, earliest first.
//! - Commands carry a [`RequestId`] (a counter from 1) and a [`NodeId`]; they
//!   fan out in node order. Deliver the commands for one node in the order they
//!   were emitted. A reply for an unknown or already answered request is a
//!   [`UsageError`]; a late reply for a request the machine gave up on is
//!   accepted and ignored.
//! - Outcomes (busy, node down, quorum missed, lease lost) are events. `Err` means
//!   misuse, with a stable [`UsageError::code`] / [`ConfigError::code`].
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs, clippy::alloc_instead_of_core)]

extern crate alloc;

pub mod advisory;
pub mod backoff;
mod error;
pub mod etcd;
pub mod fence;
#[cfg(feature = "lean-json")]
pub mod json;
mod pending;
pub mod redlock;
mod types;
pub mod wire;
pub mod zookeeper;

pub use error::{ConfigError, UsageError};
pub use fence::{fenced_update_sql, Admission, FenceGuard, FencingToken, InvalidIdentifier};
pub use types::{lock_value_from_random, Millis, NodeId, RequestId, MAX_TIME};

/// A sans-IO state machine: the shape every fencelock machine shares, so hosts,
/// the conformance runner and the simulator drive them all the same way.
pub trait Machine {
    /// What the host tells the machine (replies, timer expiries, requests).
    type Input;
    /// What the machine tells the host (commands to perform, events to report).
    type Output;

    /// Applies one input. Time inside `input` must be `>=` the last time seen.
    /// On `Err` the machine is unchanged.
    fn handle_input(&mut self, input: Self::Input) -> Result<(), UsageError>;

    /// Next queued command or event; `None` once drained.
    #[must_use]
    fn poll_output(&mut self) -> Option<Self::Output>;

    /// When the host should next deliver a timeout input, if ever.
    #[must_use]
    fn poll_timeout(&self) -> Option<Millis>;
}
