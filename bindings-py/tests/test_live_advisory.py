"""Live tests against a real PostgreSQL (Debian's 15) over psycopg 3.

The server is started by the ``postgres`` fixture (``servers.sh start-postgres``).
The fenced counter is a row updated with the core's ``fenced_update_sql``.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from fencelock import (
    AdvisoryLock,
    AsyncAdvisoryLock,
    InvalidInput,
    LockLost,
    LockNotAcquired,
    Retry,
    SessionNotPinned,
    UsageError,
    advisory,
)
from fencelock._native import fenced_update_sql

from conftest import Postgres
from contention import Run

pytestmark = pytest.mark.live

RETRY = Retry.exponential(0.005, 0.05, jitter=0.005, max_attempts=None)
UPDATE = fenced_update_sql("fencelock_py_counter", ["value"], "fence_token", "id")


def connect(postgres: Postgres, **kwargs: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(postgres.conninfo, autocommit=True, **kwargs)


@pytest.fixture
def db(postgres: Postgres) -> Iterator[psycopg.Connection[Any]]:
    conn = connect(postgres)
    try:
        yield conn
    finally:
        conn.close()


class Counter:
    """A counter row behind the core's fenced UPDATE: a write is admitted only with
    a token at least the row's."""

    def __init__(self, postgres: Postgres, key: str) -> None:
        self.key = key
        self.conn = connect(postgres)
        self.lock = threading.Lock()
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS fencelock_py_counter "
            "(id text PRIMARY KEY, value bigint NOT NULL, fence_token bigint NOT NULL)"
        )
        self.conn.execute(
            "INSERT INTO fencelock_py_counter VALUES (%s, 0, 0) ON CONFLICT DO NOTHING", (key,)
        )

    def read(self) -> int:
        with self.lock:
            row = self.conn.execute(
                "SELECT value FROM fencelock_py_counter WHERE id = %s", (self.key,)
            ).fetchone()
        assert row is not None
        return int(row[0])

    def write(self, token: int, value: int) -> bool:
        with self.lock, psycopg.RawCursor(self.conn) as cur:
            cur.execute(UPDATE, [value, token, self.key])
            return cur.rowcount == 1

    def close(self) -> None:
        self.conn.close()


def backends_holding(db: psycopg.Connection[Any], name: str) -> list[int]:
    rows = db.execute(
        "SELECT pid FROM pg_locks, (SELECT hashtextextended(%s, 0) AS k) key "
        "WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
        "AND classid = ((k >> 32) & 4294967295)::oid AND objid = (k & 4294967295)::oid",
        (name,),
    ).fetchall()
    return [int(r[0]) for r in rows]


# ----- basics --------------------------------------------------------------------------------


def test_lock_fence_check_release(
    postgres: Postgres, db: psycopg.Connection[Any], unique_name: str
) -> None:
    conn = connect(postgres)
    locks = AdvisoryLock(conn, check_interval=0.1)
    with locks(unique_name, timeout=5.0) as lease:
        assert backends_holding(db, unique_name) == [lease.pid]
        row = db.execute(
            f"SELECT token FROM {advisory.FENCE_TABLE} WHERE name = %s", (unique_name,)
        ).fetchone()
        assert row is not None and lease.fencing_token == row[0]
        assert lease.valid_until == float("inf") and lease.remaining() == float("inf")
        time.sleep(0.35)  # a few checks
        lease.check()
        assert lease.state == "held"
    assert backends_holding(db, unique_name) == []
    assert not conn.closed  # a clean release hands the connection back open
    with locks(unique_name) as again:
        assert again.fencing_token == lease.fencing_token + 1
    conn.close()


def test_plain_sql_users_and_ours_exclude_each_other(
    postgres: Postgres, db: psycopg.Connection[Any], unique_name: str
) -> None:
    db.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (unique_name,))
    locks = AdvisoryLock(postgres.conninfo)
    with pytest.raises(LockNotAcquired) as failed:
        locks.acquire(unique_name, try_lock=True)
    assert failed.value.reason == "locked"
    db.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (unique_name,))
    with locks(unique_name, timeout=5.0):
        busy = db.execute(
            "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (unique_name,)
        ).fetchone()
        assert busy is not None and busy[0] is False


def test_unusable_connections_are_refused(postgres: Postgres, unique_name: str) -> None:
    conn = psycopg.connect(postgres.conninfo)  # not autocommit
    conn.execute("SELECT 1")  # now inside a transaction
    locks = AdvisoryLock(conn)
    with pytest.raises(InvalidInput) as refused:
        locks.acquire(unique_name)
    assert refused.value.code == "CONNECTION_UNUSABLE"
    conn.rollback()
    with locks(unique_name) as lease:  # idle: autocommit is switched on for the lock
        assert conn.autocommit is True
        assert lease.fencing_token >= 1
    assert conn.autocommit is False  # and back off after
    conn.close()
    with pytest.raises(InvalidInput) as closed:
        locks.acquire(unique_name)
    assert closed.value.code == "CONNECTION_UNUSABLE"
    with pytest.raises(InvalidInput):
        AdvisoryLock(42)
    with pytest.raises(UsageError):  # one lock at a time on one connection
        one = AdvisoryLock(connect(postgres))
        held = one.acquire(unique_name)
        try:
            one.acquire(unique_name + "-other")
        finally:
            held.release()


# ----- contention: 20 clients ------------------------------------------------------------------


def test_twenty_clients_on_one_fenced_counter_row(postgres: Postgres, unique_name: str) -> None:
    run = Run(target=100, limit=120.0)
    counter = Counter(postgres, unique_name)

    def worker(i: int) -> None:
        who = f"client-{i}"
        conn = connect(postgres)
        locks = AdvisoryLock(conn, retry=RETRY)
        try:
            while run.more():
                try:
                    lease = locks.acquire(unique_name, timeout=60.0)
                except LockNotAcquired:
                    run.not_acquired += 1
                    continue
                try:
                    if run.enter(who):
                        value = counter.read() + 1
                        run.wrote(
                            value, lease.fencing_token, counter.write(lease.fencing_token, value)
                        )
                    run.leave(who)
                finally:
                    lease.release()
        except Exception as e:
            run.errors.append(f"{who}: {e!r}")
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=run.limit + 60)
        assert not t.is_alive(), "a worker did not finish in time"
    run.check()
    assert counter.read() == run.target
    counter.close()


def test_asyncio_clients_on_one_fenced_counter_row(postgres: Postgres, unique_name: str) -> None:
    run = Run(target=60, limit=120.0)
    counter = Counter(postgres, unique_name)

    async def worker(i: int) -> None:
        who = f"task-{i}"
        conn = await psycopg.AsyncConnection.connect(postgres.conninfo, autocommit=True)
        locks = AsyncAdvisoryLock(conn, retry=RETRY)
        try:
            while run.more():
                try:
                    lease = await locks.acquire(unique_name, timeout=60.0)
                except LockNotAcquired:
                    run.not_acquired += 1
                    continue
                try:
                    if run.enter(who):
                        value = counter.read() + 1
                        run.wrote(
                            value, lease.fencing_token, counter.write(lease.fencing_token, value)
                        )
                    run.leave(who)
                finally:
                    await lease.release()
        except Exception as e:
            run.errors.append(f"{who}: {e!r}")
        finally:
            await conn.close()

    async def main() -> None:
        await asyncio.gather(*(worker(i) for i in range(20)))

    asyncio.run(main())
    run.check()
    counter.close()


# ----- a terminated backend ----------------------------------------------------------------------


def test_terminated_holder_is_lost_and_the_next_holder_token_is_higher(
    postgres: Postgres, db: psycopg.Connection[Any], unique_name: str
) -> None:
    counter = Counter(postgres, unique_name)
    holder_conn = connect(postgres)
    holder = AdvisoryLock(holder_conn, check_interval=0.2).acquire(unique_name)
    assert counter.write(holder.fencing_token, 1)
    waiter: list[Any] = []
    other = AdvisoryLock(postgres.conninfo, retry=RETRY, check_interval=0.2)
    thread = threading.Thread(
        target=lambda: waiter.append(other.acquire(unique_name, timeout=30.0)), daemon=True
    )
    thread.start()
    time.sleep(0.3)
    assert not waiter
    started = time.monotonic()
    db.execute("SELECT pg_terminate_backend(%s)", (holder.pid,))
    assert holder.lost.wait(3.0), "the terminated backend was not noticed"
    assert time.monotonic() - started < 1.5  # within a check interval or so
    assert holder.lost_reason == "session_lost"
    with pytest.raises(LockLost) as lost:
        holder.check()
    assert lost.value.reason == "session_lost"
    thread.join(timeout=30)
    assert waiter, "the next holder did not get the lock"
    assert waiter[0].fencing_token > holder.fencing_token
    assert counter.write(waiter[0].fencing_token, 2)
    assert not counter.write(holder.fencing_token, 3)  # the old token's write is refused
    assert holder.release() == "session_lost"
    assert holder_conn.closed  # a lost session is closed, never reused
    assert waiter[0].release() == "released"
    assert counter.read() == 2
    counter.close()


def test_asyncio_terminated_holder_is_lost(
    postgres: Postgres, db: psycopg.Connection[Any], unique_name: str
) -> None:
    async def main() -> None:
        conn = await psycopg.AsyncConnection.connect(postgres.conninfo, autocommit=True)
        lease = await AsyncAdvisoryLock(conn, check_interval=0.2).acquire(unique_name)
        db.execute("SELECT pg_terminate_backend(%s)", (lease.pid,))
        await asyncio.wait_for(lease.lost.wait(), 3.0)
        assert lease.lost_reason == "session_lost"
        assert await lease.release() == "session_lost"
        assert conn.closed

    asyncio.run(main())


def test_a_dropped_lease_ends_its_session(
    postgres: Postgres, db: psycopg.Connection[Any], unique_name: str
) -> None:
    conn = connect(postgres)
    lease = AdvisoryLock(conn, check_interval=0.1).acquire(unique_name)
    assert backends_holding(db, unique_name) == [lease.pid]
    del lease
    gc.collect()
    assert conn.closed  # the session ended with the lease: the lock is not stranded
    deadline = time.monotonic() + 5
    while backends_holding(db, unique_name) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert backends_holding(db, unique_name) == []


# ----- a session that is not pinned ---------------------------------------------------------------


def test_a_session_that_is_not_pinned_raises_and_is_closed(
    postgres: Postgres, monkeypatch: pytest.MonkeyPatch, unique_name: str
) -> None:
    """A transaction-mode pooler hands statements to different backends: simulated
    by reporting another backend pid from the second statement on."""
    real = advisory._execute
    calls = {"n": 0}

    def pooled(conn: Any, sql: str, params: list[Any]) -> dict[str, Any]:
        result = real(conn, sql, params)
        calls["n"] += 1
        if calls["n"] > 1 and result["type"] == "row":
            result["values"][-1] += 1  # another backend
        return result

    monkeypatch.setattr(advisory, "_execute", pooled)
    conn = connect(postgres)
    with pytest.raises(SessionNotPinned) as raised:
        AdvisoryLock(conn).acquire(unique_name)
    assert raised.value.code == "SESSION_NOT_PINNED"
    assert raised.value.reason == "session_not_pinned"
    assert isinstance(raised.value, LockNotAcquired)
    assert conn.closed  # the lock may be stranded on the first backend: closed
