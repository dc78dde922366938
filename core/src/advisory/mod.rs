//! PostgreSQL advisory locks with a fencing token, as a pure state machine over
//! the host's PostgreSQL driver.
//!
//! The lock is `pg_try_advisory_lock(hashtextextended(name, 0))`, a session-level
//! lock on a 64-bit key the **server** computes from the name, so anyone running
//! `SELECT pg_advisory_lock(hashtextextended('orders', 0))` from plain SQL excludes
//! us, and we exclude them. Right after taking it, the machine bumps the name's
//! counter in `fencelock_fence` (created on first use); the counter is the fencing
//! token. Every statement is a constant in [`sql`], so every host sends the same
//! SQL.
//!
//! # The pinned session
//!
//! A session lock lives exactly as long as the server session (backend) that took
//! it. The host runs every statement of one machine on **one connection**, used by
//! nothing else meanwhile (one connection per held lock; a pool hands one out for
//! the machine's whole life), in autocommit mode (the fence bump must commit at
//! once). Every row carries `pg_backend_pid()`, so the machine notices when two
//! statements ran on different backends.
//!
//! **Poolers and failover drop session locks.** A transaction-mode pooler
//! (PgBouncer `pool_mode = transaction`, most serverless proxies) hands each
//! statement to any backend: the lock stays on the backend that took it, the
//! unlock lands elsewhere, and another client of the pool may inherit the lock.
//! This cannot be detected reliably (consecutive statements may happen to share a
//! backend); the machine detects it when the pid changes (`session_not_pinned`),
//! and its unlock is guarded by the pid, so it never releases a lock on someone
//! else's backend. Use a direct connection or session pooling. Advisory locks are
//! never replicated: a failover (or a restart) drops every lock, and a standby's
//! locks do not exclude the primary's. The fencing counter is an ordinary row: on
//! a failover with asynchronous replication its last bumps may be lost, and a later
//! holder may get a token an earlier one already used; with synchronous
//! replication it keeps increasing.
//!
//! # Transitions
//!
//! Times are the host's monotonic ms.
//!
//! **Acquire.**
//! 1. `new` sends `try_lock` (attempt 1). Its row is `(answer, pid)`:
//!    - `locked` → send `fence`;
//!    - `held` (this session already holds the lock; nothing was taken): if an
//!      earlier `try_lock` of ours went unanswered, that one took it → as
//!      `locked`; otherwise another user of the same connection holds it →
//!      `acquire_failed{already_held}`, never a second holder;
//!    - `busy` → try-lock: `acquire_failed{locked}`; else `busy{attempt,
//!      retry_at}` and a new attempt after the retry policy's delay for that
//!      attempt (state `waiting`), unless `max_attempts` is reached
//!      (`attempts_exhausted`) or the next attempt would start at or after the
//!      deadline (`deadline`).
//! 2. `fence` row `(token, pid)` → `acquired` with that token (1 the first time a
//!    name is locked). Error `42P01` (no table) → `setup` (`CREATE TABLE IF NOT
//!    EXISTS`), then `fence` again.
//!
//! A failed statement (server error, timeout, malformed row) → `request_error`
//! and the same statement again after the retry delay (a failed `setup` retries
//! `fence`); `max_attempts` bounds consecutive failures. A `try_lock` without a
//! result may have taken the lock: the next `try_lock` answers `held` for it.
//! The acquire deadline (`timeout`) → give up with `deadline`; `release` while
//! acquiring → give up with `cancelled`. Giving up after a `try_lock` that took,
//! or may have taken, the lock sends `unlock` first (it runs after the statement
//! in flight: one session runs statements in order).
//!
//! **Pid.** The first row's pid is the session's backend. A row with another pid
//! → `acquire_failed{session_not_pinned}` while acquiring (no unlock: it could
//! only land on yet another backend), `lost{session_not_pinned}` while held.
//!
//! **Held.** `check` every `check_interval` ms: `(true, pid)` → held (`checked`
//! after `uncertain`); `(false, pid)` → `lost{not_held}` (the lock was released
//! under us: `pg_advisory_unlock_all`, a session reset). No answer / a server
//! error → `uncertain` and another check after `retry.base_delay` ms. There is no
//! TTL and no expiry warning: the lock lasts as long as the session.
//!
//! **Session loss.** A `connection` error on any statement, or
//! [`Input::SessionLost`]: the session and its locks are gone →
//! `lost{session_lost}` (held), `acquire_failed{session_lost}` (acquiring).
//!
//! **Release.** `unlock(name, pid)`, guarded by the pid: `unlocked` →
//! `released{released}`; `not_held` → `released{not_held}` (`released` if an
//! earlier unlock went unanswered); `NULL` (another backend) →
//! `released{session_not_pinned}`; a connection error → `released{session_lost}`;
//! other failures are retried up to [`CLEANUP_ATTEMPTS`] times, then
//! `released{unconfirmed}` (close the connection: that releases it). After a loss,
//! release sends nothing and reports the loss's outcome.
//!
//! Before an input is applied, the machine fires every deadline due at its time
//! (ties: acquire deadline, statement timeouts, scheduled statement). Late results
//! of given-up statements are accepted and ignored; duplicates and unknown ids are
//! usage errors.
//!
//! # Fencing token
//!
//! Only the lock holder bumps the name's counter, and it does so after taking the
//! lock, in its own committed statement; the next holder can only take the lock
//! after the previous one released it (or lost its session), so its bump comes
//! later and returns a larger number. Tokens strictly increase from holder to
//! holder, as long as the counter row survives (see failover above).
//!
//! [`CLEANUP_ATTEMPTS`]: config::CLEANUP_ATTEMPTS

mod config;
mod lock;
mod protocol;
pub mod sql;

pub use config::{
    AdvisoryConfig, LockArgs, Params, CLEANUP_ATTEMPTS, DEFAULT_CHECK_INTERVAL,
    DEFAULT_REQUEST_TIMEOUT, MAX_NAME_LEN,
};
pub use lock::Lock;
pub use protocol::{
    AcquireFailure, AcquireStats, Command, ErrorKind, Event, Input, LockInfo, LostReason, Output,
    ReleaseOutcome, Reply, SqlValue, State, Statement,
};
