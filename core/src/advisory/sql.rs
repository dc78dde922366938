//! The SQL every host sends, as constants, so a lock taken from any language runs
//! exactly the same statements (and plain SQL users can share the lock: the key
//! is `hashtextextended(name, 0)`, computed by the server).
//!
//! Placeholders are PostgreSQL's own (`$1`, `$2`): node-postgres and the Rust
//! `postgres` crate take them as they are; psycopg 3 needs a `RawCursor`. Every
//! statement that returns a row returns `pg_backend_pid()` as its last column, so
//! the machine sees when two statements ran on different backends (a pooler that
//! does not pin the session).

/// The table that holds one fencing counter per lock name.
pub const FENCE_TABLE: &str = "fencelock_fence";

/// Whether this session already holds the advisory lock on key `k` (bigint form:
/// `classid` = high 32 bits, `objid` = low 32 bits, `objsubid` = 1).
macro_rules! held_by_this_session {
    () => {
        "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND pid = pg_backend_pid() AND objsubid = 1 \
         AND classid = ((k >> 32) & 4294967295)::oid AND objid = (k & 4294967295)::oid)"
    };
}

/// The key, computed by the server from the name in `$1`.
macro_rules! key_from_name {
    () => {
        " FROM (SELECT hashtextextended($1::text, 0) AS k) AS fencelock_key"
    };
}

/// `$1` = name. One row: `('held' | 'locked' | 'busy', pid)`. `held`: this session
/// already holds the lock (nothing was taken: session locks would stack);
/// `locked`: taken now; `busy`: another session holds it.
pub const TRY_LOCK: &str = concat!(
    "SELECT CASE WHEN ",
    held_by_this_session!(),
    " THEN 'held' WHEN pg_try_advisory_lock(k) THEN 'locked' ELSE 'busy' END, pg_backend_pid()",
    key_from_name!()
);

/// `$1` = name. One row: `(token, pid)`, the name's counter after the bump (1 the
/// first time).
pub const FENCE: &str = "INSERT INTO fencelock_fence (name, token) VALUES ($1::text, 1) \
     ON CONFLICT (name) DO UPDATE SET token = fencelock_fence.token + 1 \
     RETURNING token, pg_backend_pid()";

/// No parameter, no row. Run when [`FENCE`] fails with `42P01` (no table yet).
pub const SETUP: &str =
    "CREATE TABLE IF NOT EXISTS fencelock_fence (name text PRIMARY KEY, token bigint NOT NULL)";

/// `$1` = name. One row: `(held, pid)`: whether this session holds the lock.
pub const CHECK: &str = concat!(
    "SELECT ",
    held_by_this_session!(),
    ", pg_backend_pid()",
    key_from_name!()
);

/// `$1` = name, `$2` = the backend pid the lock was taken on (0 when unknown).
/// One row: `('unlocked' | 'not_held' | NULL, pid)`; `NULL`: the statement ran on
/// another backend, which it left alone (a pooled backend may hold another
/// client's lock of the same name).
pub const UNLOCK: &str = concat!(
    "SELECT CASE WHEN $2::integer NOT IN (0, pg_backend_pid()) THEN NULL \
     WHEN pg_advisory_unlock(k) THEN 'unlocked' ELSE 'not_held' END, pg_backend_pid()",
    key_from_name!()
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_read_as_intended() {
        assert_eq!(
            TRY_LOCK,
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND pid = pg_backend_pid() AND objsubid = 1 AND classid = ((k >> 32) & 4294967295)::oid \
             AND objid = (k & 4294967295)::oid) THEN 'held' WHEN pg_try_advisory_lock(k) THEN 'locked' \
             ELSE 'busy' END, pg_backend_pid() FROM (SELECT hashtextextended($1::text, 0) AS k) AS fencelock_key"
        );
        assert!(CHECK.starts_with("SELECT EXISTS (SELECT 1 FROM pg_locks"));
        assert!(
            UNLOCK.ends_with("FROM (SELECT hashtextextended($1::text, 0) AS k) AS fencelock_key")
        );
        assert!(FENCE.contains(FENCE_TABLE) && SETUP.contains(FENCE_TABLE));
        for sql in [TRY_LOCK, FENCE, SETUP, CHECK, UNLOCK] {
            assert!(!sql.contains("  "), "single spaces: {sql}");
            assert!(!sql.contains('%'), "no % (psycopg formats %): {sql}");
        }
    }
}
