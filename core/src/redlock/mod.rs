//! Redlock over N independent Redis masters (N = 1 is plain single-instance
//! locking), with fencing tokens.
//!
//! # Acquire
//!
//! 1. An attempt starts at `start = now` and sends the [`Script::Acquire`] script
//!    to every node, in node order, each with a reply timeout of `node_timeout`.
//! 2. `quorum = N / 2 + 1`; `drift = ceil(ttl * drift_ppm / 1e6) + 2` ms;
//!    the lease is valid until `start + ttl - drift`.
//! 3. The attempt succeeds only when a quorum granted while `now < valid_until`.
//!    `node_timeout` may be at most a third of the validity window and a request
//!    that outlives it counts as failed (deadlines fire before any later input is
//!    applied), so a quorum is only ever counted with at least a third of the
//!    window left, even after a fencing write-back round: a lease is never handed
//!    out with no validity left, however late the host delivers replies.
//! 4. As soon as a quorum is impossible (conflicts + errors + timeouts > N - quorum),
//!    the release script goes to **every** node (those
//!    that did not answer too), and the next attempt starts after the retry delay
//!    (seeded jitter), unless attempts or the caller's deadline run out. Each
//!    retry writes its own value (`<value>.<attempt>`): a release of an earlier
//!    attempt that reaches a master late (a host that reorders commands) can never
//!    delete the retry's key. The acquire script treats a key that already holds
//!    the attempt's own value as a grant, so a duplicated command never blocks.
//!
//! # Extend, auto-extension, loss
//!
//! An extension runs the [`Script::Extend`] script on every node; it counts only
//! with a quorum of confirmations before the lease's loss deadline, and the new
//! validity is measured from the extension's start. A failed extension leaves a
//! still-valid lease held. With `auto_extend`, the lease extends itself when a
//! third of its validity window is left, retries every `retry.base_delay`, and is
//! declared [`LostReason::ExtensionFailed`] `node_timeout` before its validity
//! ends if no extension got through: the holder is told while the lease is still
//! valid, never after. Without it the lease ends with [`LostReason::Expired`] at
//! `valid_until`. An [`Event::ExpiryWarning`] fires when a hold passes 80 % of
//! the TTL without an extension.
//!
//! # Release
//!
//! The [`Script::Release`] script goes to all N nodes. Outcomes are typed:
//! [`ReleaseOutcome::Released`] (deleted on a quorum), `AlreadyExpired`,
//! `HeldByOther`, `QuorumUnreachable`. Releasing an expired or lost lease is not
//! an error.
//!
//! # Fencing tokens
//!
//! Each node keeps a counter beside each lock key. The acquire script bumps it
//! (to one more than the largest counter of the locked resources) whenever it
//! sets a free key, and returns it. The lease's token `T` is the largest counter
//! among the granting nodes. If fewer than a quorum of granting nodes returned
//! exactly `T`, a second round ([`Script::Fence`]) writes `T` into the counters of
//! every other node, but only while our value still holds the lock keys there and
//! only if no counter is already above `T`; the lease is acquired once a quorum
//! of nodes *confirmed* `T` (returned it from acquire, or accepted the write-back)
//! inside the validity window. In the steady state every node agrees and
//! acquisition stays one round trip.
//!
//! **Why tokens are unique and ordered.** Call a node's confirmation of `T` for
//! lease `L` the moment its counter equals `T` while `L`'s value holds its lock
//! keys. Take two leases `A` and `B` that were both acquired. Their confirming
//! quorums share at least one node `n`. On `n`, `A`'s keys and `B`'s keys were
//! never held at the same time (the acquire script sets a key only when it is
//! free or already ours), so one hold came first, say `A`'s. `B`'s hold on `n`
//! began with an acquire script that found the key free and bumped the counter
//! above its value at that moment, which was already at least `T_A` (counters
//! only grow: increments and `max` write-backs). `B`'s confirmation on `n` came
//! later still, so `T_B >= T_A + 1`. Hence two leases never share a token, and
//! the lease whose hold came later on a shared node carries the larger token.
//! No clock appears in this argument.
//!
//! **What it assumes.**
//! - Counters survive node restarts: run the masters with AOF and
//!   `appendfsync always`. Redlock's "delayed restart" (keep a crashed node out
//!   for one TTL) protects lock keys but *not* counters. As a second line of
//!   defence, a counter that does not exist starts from the master's clock in
//!   microseconds, so a master that lost its data still hands out tokens above
//!   the ones it issued before, provided its clock is not behind them (masters'
//!   clocks agree within a TTL and never step back). Counters that counted from
//!   zero again would let a later lease receive a token an earlier, paused holder
//!   is still using.
//! - Nobody else writes the `ns:lock:{r}` / `ns:fence:{r}` keys.
//! - The protected resource checks the token (see [`crate::FenceGuard`]); a
//!   token nobody checks protects nothing.
//!
//! The lock itself (mutual exclusion while holders respect `valid_until`) still
//! assumes what Redlock always assumes: bounded clock drift between the client and
//! the masters (within `drift_ppm`), no clock jumps on the masters, and bounded
//! process pauses. Fencing is what keeps the resource safe when those fail.

pub(crate) mod config;
mod machine;
mod protocol;
mod scripts;

pub use crate::pending::MAX_GIVEN_UP;
pub use config::{
    drift_allowance, Params, RedlockConfig, CLOCK_PRECISION, DEFAULT_NODE_TIMEOUT_CAP,
    MAX_ACQUIRE_TIMEOUT, MAX_DRIFT_PPM, MAX_NAMESPACE_LEN, MAX_NODES, MAX_RESOURCES,
    MAX_RESOURCE_LEN, MAX_TTL, MAX_VALUE_LEN, MIN_VALIDITY,
};
pub use machine::{AcquireArgs, Redlock};
pub use protocol::{
    AcquireFailure, AcquireStats, AttemptFailure, Command, Eval, Event, ExtendFailure, Input,
    Lease, LostReason, NodeErrorKind, NodeReply, Output, ReleaseOutcome, State,
};
pub use scripts::{
    Script, ACQUIRE, ACQUIRE_SHA1, EXTEND, EXTEND_SHA1, FENCE, FENCE_SHA1, RELEASE, RELEASE_SHA1,
};
