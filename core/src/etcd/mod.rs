//! etcd lease mutex and leader election, wire-compatible with etcd's Go
//! `client/v3/concurrency` package: our holders and Go holders of the same name
//! exclude each other, because both queue keys `name + "/" + lowercase-hex(lease)`
//! under the same prefix and the first-created key holds the lock.
//!
//! Three machines share one vocabulary ([`Input`], [`Command`], [`Reply`],
//! [`Event`]):
//! - [`Mutex`]: lock / try-lock / unlock (Go's `Mutex.Lock`, `TryLock`, `Unlock`);
//! - [`Election`]: campaign / proclaim / resign (Go's `Election`);
//! - [`Observer`]: who leads, once or as it changes (Go's `Leader`, `Observe`).
//!
//! Each [`Mutex`] / [`Election`] grants its own lease (one session per lock, like
//! `etcdctl lock`), keeps it alive while it waits and holds, and revokes it at the
//! end. The commands are etcd RPCs; a host runs them with its gRPC client, or with
//! only `fetch` through the JSON-gateway codec in [`crate::wire::etcd_gateway`].
//!
//! # Transitions (mutex and election)
//!
//! Times are the host's monotonic ms. `ttl` is the TTL the server granted (it may
//! raise the requested one); `window(ttl) = ttl_ms - drift`, with
//! `drift = ceil(ttl_ms * drift_ppm / 1e6) + 2` as in Redlock.
//!
//! **Session.**
//! 1. `new` sends `lease_grant{ttl}` at `t0`.
//! 2. `lease_granted{lease, ttl}` → `lease_granted` event; `valid_until = t0 +
//!    window(ttl)` (from the *send* time, never the reply's); first keep-alive due
//!    at `reply time + ttl_ms / 3`; our key is `name/<hex lease>`; send the acquire
//!    txn.
//! 3. While acquiring, waiting or holding, a keep-alive goes out when due (one in
//!    flight at a time). `lease_kept_alive{ttl > 0}` sent at `s` sets
//!    `valid_until = max(valid_until, s + window(ttl))` (`kept_alive` event) and the
//!    next one due at `reply time + ttl_ms / 3`. `lease_kept_alive{ttl: 0}` or a
//!    `lease_not_found` error → `lost{revoked}` at once. Any other failure → retry
//!    the keep-alive `retry.base_delay` ms later.
//! 4. When `valid_until` passes with no acknowledgement → `lost{expired}`. This is
//!    checked **before anything else** an input triggers: a process paused past its
//!    validity sees `lost` first, never a command of the old hold.
//! 5. Held, at `period start + 80 % of ttl` without a renewal → `expiry_warning`.
//!
//! **Acquire.**
//! 6. Acquire txn: `if create_revision(key) == 0 then put(key, value, lease),
//!    range(first-created under name/) else range(key), range(first-created)`.
//!    `my_rev` = the header revision (success) or our existing key's create
//!    revision (failure: a retried txn finds its place in the queue again).
//! 7. Owner range empty or `owner.create_revision == my_rev` → `acquired` with
//!    token `my_rev` (one txn when uncontended). Try-lock and not the owner → give
//!    up with `locked` (below). Otherwise queued (state `waiting`):
//! 8. Predecessor range: `name/ .. name0`, sort by create revision descending,
//!    limit 1, `max_create_revision = my_rev - 1` — only the immediate predecessor
//!    is ever watched, so a release wakes one waiter. Empty → step 10.
//! 9. Watch mode: watch the predecessor's key from the revision after the range's
//!    header revision (a delete between the range and the watch is replayed; the
//!    predecessor's own last write, already in the read, is not — an election
//!    leader's proclaim would otherwise wake the waiter after every read). Any
//!    watch answer — events, compaction, cancellation — → back to 8 (the
//!    predecessor may have been a waiter whose lease expired, not the holder). No
//!    answer within `recheck` ms → `cancel_watch`, back to 8. Poll mode: back to 8
//!    after `interval` ms; when the acquire deadline comes first, one last read of
//!    the queue (a predecessor that left since the last read — often a waiter that
//!    gave up at its own deadline — would otherwise go unseen): no predecessor →
//!    confirm (step 10), else give up with `deadline`.
//! 10. Confirm: range our key. Present with `create_revision == my_rev` and our
//!     lease → `acquired` (token `my_rev`); otherwise → `lost{key_deleted}`, never
//!     `acquired` (Go's mutex returns `ErrSessionExpired` here; Go's election has
//!     no such check and can report phantom leadership).
//!
//! A failed grant / txn / range (error, timeout, malformed reply) → `request_error`
//! and a retry after the retry policy's delay (watch failures retry step 8);
//! `max_attempts` bounds *consecutive* failures → give up with
//! `attempts_exhausted`. A txn answered `lease_not_found` → `lost{revoked}`. The
//! acquire deadline (`timeout`) → give up with `deadline`. `release` while
//! acquiring → give up with `cancelled`.
//!
//! **Give up / release.**
//! 11. Giving up (locked, deadline, cancelled, attempts exhausted, or `lost` before
//!     the lock was ever held: the machine cleans up by itself, since nobody
//!     releases a lock they never got) and releasing (held or lost) stop
//!     keep-alives, close any watch, then run the cleanup:
//!     guarded delete txn `if create_revision(key) == my_rev then delete(key)` (when
//!     `my_rev` is known), then `lease_revoke` (which also removes a key whose txn
//!     was still in flight). Each is tried up to [`CLEANUP_ATTEMPTS`] times.
//!     A retried delete is the same guarded txn, so it can never remove a newer key
//!     (etcd #22082). Then `acquire_failed{reason}` (giving up) or
//!     `released{outcome}`: `released` (our key deleted, by the txn or with the
//!     lease), `already_expired` (the guard failed / the lease was gone),
//!     `unreachable` (no answer; the key goes with the lease's TTL).
//! 12. Election `proclaim{value}` while held: txn `if create_revision(key) ==
//!     my_rev then put(key, value, lease)`; succeeded → `proclaimed`; not →
//!     `lost{key_deleted}`; no answer → `proclaim_failed` (still held).
//!
//! Every request but a watch times out after `request_timeout`. Before an input is
//! applied, the machine fires every deadline due at its time (validity first, then
//! earliest first; ties: acquire deadline, request timeouts, watch recheck / retry /
//! poll, warning, keep-alive). Late replies to given-up requests are accepted and
//! ignored; duplicates and unknown ids are usage errors.
//!
//! # Fencing token
//!
//! The token is our key's create revision. The lock goes to the lowest create
//! revision still present under the prefix, and every key is created with a new,
//! strictly larger etcd revision, so successive holders get strictly increasing
//! tokens. Lease ids are not tokens: they are not ordered across members.
//!
//! # What it assumes
//!
//! Mutual exclusion rests on the lease: a holder stops at `valid_until` (local
//! clock rate within `drift_ppm` of the leader's). etcd may keep a lease *longer*
//! than its TTL (a new leader refreshes every lease), never shorter, so the local
//! validity stays conservative. Fencing with the token keeps the resource safe
//! when a holder pauses past its validity.
//!
//! [`CLEANUP_ATTEMPTS`]: config::CLEANUP_ATTEMPTS

pub(crate) mod config;
mod lock;
mod observer;
mod protocol;

pub use config::{
    ElectionArgs, EtcdConfig, MutexArgs, ObserveArgs, Params, Wait, WaitMode, CLEANUP_ATTEMPTS,
    DEFAULT_REQUEST_TIMEOUT_CAP, MAX_ELECTION_VALUE_LEN, MAX_NAME_LEN, MAX_TTL_SECS,
};
pub use lock::{Election, Mutex};
pub use observer::Observer;
pub use protocol::{
    AcquireFailure, AcquireStats, Command, Compare, ErrorKind, Event, EventKind, Input, KeyValue,
    Leader, LeaseId, LockInfo, LostReason, ObserveFailure, Op, OpResponse, Output, RangeRequest,
    ReleaseOutcome, Reply, Sort, SortOrder, SortTarget, State, WatchEvent,
};
