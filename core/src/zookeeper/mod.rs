//! ZooKeeper lock and leader election: the ephemeral-sequential recipe
//! (ZooKeeper's `recipes.md`, Curator's `InterProcessMutex` / `LeaderLatch`), as
//! pure state machines over the host's ZooKeeper client.
//!
//! Two machines share one vocabulary ([`Input`], [`Command`], [`Reply`], [`Event`]):
//! - [`Lock`]: lock / try-lock / unlock;
//! - [`Election`]: campaign / resign; elected = our node is the lowest.
//!
//! A machine works inside the host client's session: the host passes the session
//! id and the negotiated session timeout `T` when it starts one, runs each
//! [`Command`] as one client call (kazoo, node-zookeeper-client, ...), and reports
//! connection changes ([`Input::Disconnected`], [`Input::Connected`],
//! [`Input::SessionExpired`]). Several machines may share one session.
//!
//! # Nodes
//!
//! For lock path `P` our node is `P/<guid>-lock-<10-digit sequence>`, created
//! `EPHEMERAL_SEQUENTIAL` with the guid the host drew from its CSPRNG. The
//! contenders are the children of `P` named `*-lock-<seq>` (ours, and Curator's
//! `_c_<uuid>-lock-<seq>`: our locks and Curator's exclude each other) and kazoo's
//! `*__lock__<seq>` / `*__rlock__<seq>`; other children are ignored. The lowest
//! sequence holds the lock.
//!
//! # Transitions
//!
//! Times are the host's monotonic ms. `window = T - drift`, `drift = ceil(T *
//! drift_ppm / 1e6) + 2` as everywhere in fencelock.
//!
//! **Validity.** `valid_until` starts at `start + window`. Every reply in which the
//! server itself answered (a result, or a `no_node` / `node_exists` / `server`
//! error) to a request sent at `s` moves it to `max(valid_until, s + window)`: the
//! server heard from the session at or after `s`, and it expires a session only `T`
//! after it last heard from it. While acquiring, waiting or holding, reaching
//! `valid_until` is `lost{expired}`, checked **before anything else** an input
//! triggers (a process paused past its validity sees `lost` first). Held, at
//! `period start + 80 % of T` with no newer answer: `expiry_warning`.
//!
//! **Checks.** While our node exists and no lock-track request is in flight (we
//! are watching, or holding), `exists(our node)` goes out `T / 3` after the last
//! server answer (one at a time; a failed check is retried `retry.base_delay` ms
//! later). A stat owned by our session → `checked{valid_until}` (while held); no
//! node → `lost{node_deleted}`; another owner → `lost{owner_mismatch}`.
//!
//! **Acquire.**
//! 1. `new` sends `create(P/<guid>-lock-, value, ephemeral_sequential)`.
//! 2. `created{path, stat}` → `node_created{path}`; the stat, if the client
//!    returned one, must be owned by our session (else `lost{owner_mismatch}`) and
//!    gives the token (its `czxid`). Then `get_children(P)` (no watch).
//!    `no_node` (no parent) → `ensure_path(P)`, then create again.
//!    Any other failure (connection loss, timeout, ...) may hide a create that
//!    happened: after the retry delay, list the children and look for our guid.
//! 3. Children: ours = the node we created, or (after a failed create) the lowest
//!    child named `<guid>-lock-<seq>`; none → create again. Other children with our
//!    guid (duplicates of a retried create) are deleted. Our node missing from the
//!    list → `lost{node_deleted}`.
//!    - ours is the lowest contender: with the stat known → `acquired` (token =
//!      czxid); else `exists(ours)` first (owner check, CURATOR-696), then
//!      `acquired`;
//!    - try-lock → give up with `locked`;
//!    - else `get_data(predecessor, watch)` on the contender just below ours only,
//!      so a release wakes one waiter (state `waiting`).
//! 4. The predecessor's stat → the watch is set; wait. `no_node` (it went away
//!    before the watch was set) → list again at once. The watch fires (any event;
//!    possibly before the `get_data` reply) → list again: the predecessor may have
//!    been a waiter that left, not the holder. No notification for `recheck` ms →
//!    list again.
//!
//! A failed request of the lock track (error, timeout, malformed reply) →
//! `request_error` and a retry after the retry policy's delay; `max_attempts`
//! bounds *consecutive* failures → give up with `attempts_exhausted`. The acquire
//! deadline (`timeout`) → give up with `deadline`. `release` while acquiring →
//! give up with `cancelled`. A `session_expired` error counts as
//! [`Input::SessionExpired`].
//!
//! **Connection.** `disconnected` while held → `uncertain{valid_until}` (state
//! `uncertain`): stop relying on the lock. `connected` in our session after a
//! disconnection → check our node at once; its stat → `checked` (held again).
//! While queued, the children are also listed again and the predecessor watched
//! anew (a watch may not survive a lost connection; kazoo does not set it again).
//! A place in the queue lost before the lock was held ends the acquisition by
//! itself: our node is deleted if it may still exist, then
//! `acquire_failed{reason: lost}` (nobody releases a lock they never got).
//! `connected` in another session, or `session_expired` → `lost{session_expired}`
//! (every ephemeral node of the session is gone).
//!
//! **Give up / release.** Both stop the lock track (a watch left behind is ignored
//! when it fires), then delete our node: `delete(ours)`, or, when its name is not
//! known (the create is unanswered), list the children and delete every node with
//! our guid. A failed delete is retried with the backoff **until the server
//! confirms or the session is gone** (a node left behind would block every other
//! contender for as long as the session lives: kazoo #732, CURATOR-678). Nothing is
//! deleted when the node is known gone (session expired, node deleted, or owned by
//! another session). Then `acquire_failed{reason}` or `released{outcome}`
//! (`released`: we deleted it — a retry that finds no node after an attempt whose
//! reply was lost counts as ours; `already_expired`: it was gone).
//!
//! Every request times out after `request_timeout`, except the orphan deletes of
//! step 3 (fire and forget). Before an input is applied, the machine fires every
//! deadline due at its time (validity first, then earliest first; ties: acquire
//! deadline, request timeouts, retry / recheck, warning, check). Late replies to
//! given-up requests are accepted and ignored; duplicates and unknown ids are usage
//! errors; so is a second notification for one watch.
//!
//! # Fencing token
//!
//! The token is our node's `czxid`: the zxid of the transaction that created it.
//! The lock goes to the lowest sequence among the nodes present, and a node created
//! later gets a higher sequence *and* a higher zxid (zxids order every write of the
//! ensemble), so successive holders get strictly increasing tokens. The sequence
//! suffix is not a token: it restarts from 0 when the parent is deleted and
//! recreated (zk-ruby/zk#34), a czxid never goes back.
//!
//! # What it assumes
//!
//! The lock rests on the session: a holder stops at `valid_until`, which assumes
//! the ensemble expires a session no earlier than `T` after it last heard from it
//! and that the local clock runs within `drift_ppm` of the servers'. Fencing with
//! the token keeps the resource safe when a holder pauses past its validity.

pub(crate) mod config;
mod lock;
mod protocol;

pub use config::{
    check_path, ElectionArgs, LockArgs, Params, ZooKeeperConfig, DEFAULT_REQUEST_TIMEOUT_CAP,
    MAX_DATA_LEN, MAX_GUID_LEN, MAX_PATH_LEN,
};
pub use lock::{Election, Lock};
pub use protocol::{
    contender_sequence, AcquireFailure, AcquireStats, Command, CreateMode, ErrorKind, Event, Input,
    LockInfo, LostReason, Output, ReleaseOutcome, Reply, SessionId, Stat, State, WatchEventKind,
    Zxid,
};
