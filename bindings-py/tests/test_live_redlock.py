"""Live tests against real redis-server masters: sync and asyncio together."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable

import pytest

from fencelock import (
    AsyncRedisFenceGuard,
    AsyncRedlock,
    LockLost,
    LockNotAcquired,
    RedisFenceGuard,
    Redlock,
    Retry,
    SqlFenceGuard,
    UsageError,
)
from fencelock._common import SCRIPTS

from conftest import Servers, async_client, sync_client
from contention import Run, async_worker, run_loop_in_thread, sync_worker

pytestmark = pytest.mark.live

# Many contenders in one process: back off exponentially (10 ms doubling to 200 ms,
# +/- 10 ms) so split votes resolve instead of retrying in lockstep.
CONTENDED = Retry.exponential(0.01, 0.2, jitter=0.01, max_attempts=None)


def lock_key(name: str) -> str:
    return f"fencelock:lock:{{{name}}}"


def fence_key(name: str) -> str:
    return f"fencelock:fence:{{{name}}}"


def eventually(check: Callable[[], bool], within: float = 2.0) -> None:
    """Release returns once a quorum deleted its keys; the other masters' deletes
    land just after."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def keys_gone(clients: list[Any], *names: str) -> Callable[[], bool]:
    return lambda: all(c.get(lock_key(n)) is None for c in clients for n in names)


# ----- basics --------------------------------------------------------------------------------


def test_acquire_extend_release_on_every_master(servers: Servers, unique_name: str) -> None:
    clients = servers.sync_clients()
    redlock = Redlock(clients, ttl=10.0)
    with redlock(unique_name, timeout=5.0) as lease:
        assert isinstance(lease.fencing_token, int) and lease.fencing_token >= 1
        assert 9.0 < lease.remaining() <= 10.0
        assert lease.valid_until > time.monotonic()
        assert lease.state == "held"
        value = lease.value.encode()
        # Acquire returns at a quorum; the last masters' grants land just after.
        eventually(lambda: all(c.get(lock_key(unique_name)) == value for c in clients))
        # A quorum of masters confirmed the token (the others may count on their own).
        counters = [int(c.get(fence_key(unique_name)) or 0) for c in clients]
        assert counters.count(lease.fencing_token) >= redlock.params["quorum"], counters
        before = lease.valid_until
        time.sleep(0.01)
        assert lease.extend() is True
        assert lease.valid_until > before
        lease.check()
    assert lease.released and lease.state == "released"
    eventually(keys_gone(clients, unique_name))
    assert redlock.stats.acquired == 1 and redlock.stats.released == 1
    assert redlock.stats.extended == 1


def test_tokens_increase_across_sync_and_async_holders(servers: Servers, unique_name: str) -> None:
    redlock = Redlock(servers.sync_clients(), ttl=5.0)
    tokens: list[int] = []
    for _ in range(3):
        with redlock(unique_name) as lease:
            assert lease.fencing_token is not None
            tokens.append(lease.fencing_token)

    async def main() -> None:
        aredlock = AsyncRedlock(servers.async_clients(), ttl=5.0)
        for _ in range(3):
            async with aredlock(unique_name) as alease:
                assert alease.fencing_token is not None
                tokens.append(alease.fencing_token)

    asyncio.run(main())
    assert tokens == sorted(tokens) and len(set(tokens)) == 6


def test_multi_resource_lock_is_all_or_nothing(servers: Servers, unique_name: str) -> None:
    clients = servers.sync_clients()
    redlock = Redlock(clients, ttl=5.0, retry=Retry.none())
    a, b = f"{unique_name}-b", f"{unique_name}-a"
    with redlock(a, b) as lease:
        assert lease.resources == (b, a)
        value = lease.value.encode()
        eventually(lambda: all(c.get(lock_key(a)) == c.get(lock_key(b)) == value for c in clients))
        with pytest.raises(LockNotAcquired) as raised:
            redlock([b]).acquire()
        assert raised.value.reason == "attempts_exhausted"
        assert raised.value.code == "LOCK_NOT_ACQUIRED"
        assert raised.value.stats["contended"] == 1
    eventually(keys_gone(clients, a, b))


def test_acquire_deadline_and_events(servers: Servers, unique_name: str) -> None:
    seen: list[dict[str, Any]] = []
    redlock = Redlock(
        servers.sync_clients(),
        ttl=5.0,
        retry=CONTENDED,
        on_event=lambda resources, event: seen.append(event),
    )
    with redlock(unique_name):
        started = time.monotonic()
        with pytest.raises(LockNotAcquired) as raised:
            redlock(unique_name, timeout=0.2).acquire()
        # The core gives up as soon as no retry can start before the deadline.
        assert time.monotonic() - started < 0.3
        assert raised.value.reason == "deadline"
        assert raised.value.stats["attempts"] > 1
    kinds = [e["type"] for e in seen]
    assert kinds[0] == "acquired" and "attempt_failed" in kinds and "acquire_failed" in kinds
    assert kinds[-1] == "released"
    snap = redlock.stats.snapshot()
    assert snap["failed"] == 1 and snap["contended"] >= 2 and snap["latency_p50"] >= 0


def test_noscript_falls_back_to_eval(servers: Servers, unique_name: str) -> None:
    clients = servers.sync_clients()
    for c in clients:
        c.script_flush()
    with Redlock(clients, ttl=5.0)(unique_name) as lease:
        assert lease.fencing_token is not None
    sha = SCRIPTS["acquire"][0]
    eventually(lambda: all(c.script_exists(sha) == [True] for c in clients))

    async def main() -> None:
        aclients = servers.async_clients()
        for c in aclients:
            await c.script_flush()
        async with AsyncRedlock(aclients, ttl=5.0)(unique_name) as alease:
            assert alease.fencing_token is not None

    asyncio.run(main())


def test_noscript_in_pipelines_falls_back_to_eval(servers: Servers, unique_name: str) -> None:
    """Many leases at once share pipelines; after a SCRIPT FLUSH every one of them
    still gets its grant at the first attempt."""
    names = [f"{unique_name}-{i}" for i in range(16)]

    async def main() -> None:
        aclients = servers.async_clients()
        redlock = AsyncRedlock(aclients, ttl=5.0, retry=Retry.none())
        async with redlock(names[0]):
            pass  # the scripts are loaded
        for c in aclients:
            await c.script_flush()
        leases = await asyncio.gather(*(redlock(n).acquire() for n in names))
        await asyncio.gather(*(lease.release() for lease in leases))
        assert redlock.stats.node_errors == 0 and redlock.stats.attempts == 17

    asyncio.run(main())
    clients = servers.sync_clients()
    redlock = Redlock(clients, ttl=5.0, retry=Retry.none())
    for c in clients:
        c.script_flush()
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda n=n: results.append(redlock(n).acquire().release()))
        for n in names
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16 and redlock.stats.node_errors == 0


def test_decode_responses_clients_work(servers: Servers, unique_name: str) -> None:
    clients = [sync_client(p, decode_responses=True) for p in servers.masters]
    with Redlock(clients, ttl=5.0)(unique_name) as lease:
        assert clients[0].get(lock_key(unique_name)) == lease.value


# ----- contention ------------------------------------------------------------------------------


def contend(
    servers: Servers,
    name: str,
    threads: int,
    tasks: int,
    target: int,
    during: Callable[[Run], None] | None = None,
    ttl: float = 2.0,
) -> tuple[Run, Redlock, list[AsyncRedlock]]:
    """``threads`` sync workers and ``tasks`` asyncio workers (one event loop on its
    own thread) contend for one lock over a fenced counter."""
    run = Run(target)
    redlock = Redlock(servers.sync_clients(), ttl=ttl, retry=CONTENDED)
    guard = RedisFenceGuard(sync_client(servers.resource), name)
    async_redlocks: list[AsyncRedlock] = []

    def sync_job(i: int) -> Callable[[], None]:
        return lambda: sync_worker(run, redlock, name, guard, f"thread-{i}")

    async def async_main() -> None:
        aredlock = AsyncRedlock(servers.async_clients(), ttl=ttl, retry=CONTENDED)
        async_redlocks.append(aredlock)
        aguard = AsyncRedisFenceGuard(async_client(servers.resource), name)
        await asyncio.gather(
            *(async_worker(run, aredlock, name, aguard, f"task-{i}") for i in range(tasks))
        )

    workers = [threading.Thread(target=sync_job(i), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    loop_thread = run_loop_in_thread(async_main)
    if during is not None:
        during(run)
    for w in workers:
        w.join(timeout=180)
    loop_thread.join(timeout=180)
    assert not any(w.is_alive() for w in workers) and not loop_thread.is_alive()
    return run, redlock, async_redlocks


def test_20_threads_and_20_tasks_contend_on_one_lock(servers: Servers, unique_name: str) -> None:
    run, redlock, async_redlocks = contend(servers, unique_name, 20, 20, target=300)
    run.check()
    assert redlock.stats.acquired > 0 and async_redlocks[0].stats.acquired > 0
    assert redlock.stats.contended > 0
    final = RedisFenceGuard(sync_client(servers.resource), unique_name)
    assert int(final.read()) == 300
    assert final.highest() == max(t for _, t in run.writes)


def test_master_stopped_and_master_killed_mid_run(
    fresh_servers: Callable[[int], Servers], unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    servers = fresh_servers(6)

    def faults(run: Run) -> None:
        while run.reserved < 60:
            time.sleep(0.01)
        servers.stop(0)  # SIGSTOP: its requests time out, replies come late
        while run.reserved < 120:
            time.sleep(0.01)
        servers.kill(4)  # SIGKILL: connection refused from now on
        while run.reserved < 200:
            time.sleep(0.01)
        servers.resume(0)

    with caplog.at_level(logging.ERROR, logger="fencelock"):
        run, redlock, async_redlocks = contend(
            servers, unique_name, 8, 8, target=260, during=faults
        )
    run.check()
    node_errors = redlock.stats.node_errors + async_redlocks[0].stats.node_errors
    assert node_errors > 0, "the faults were not noticed"
    assert not [r for r in caplog.records if "host bug" in r.getMessage()]


# ----- validity, loss, fencing -------------------------------------------------------------------


def test_release_of_an_expired_lease(servers: Servers, unique_name: str) -> None:
    redlock = Redlock(servers.sync_clients(), ttl=0.3, auto_extend=False)
    lease = redlock(unique_name).acquire()
    assert lease.lost.wait(1.0), "expiry was not reported"
    assert lease.lost_reason == "expired"
    assert lease.remaining() == 0.0
    with pytest.raises(LockLost) as raised:
        lease.check()
    assert raised.value.reason == "expired" and raised.value.code == "LEASE_LOST"
    with pytest.raises(LockLost):
        lease.extend()
    time.sleep(0.1)  # let the keys expire on the masters too
    assert lease.release() == "already_expired"
    with pytest.raises(UsageError) as again:
        lease.release()
    assert again.value.code == "INVALID_STATE"


def test_auto_extension_keeps_the_lease_over_several_ttls(
    servers: Servers, unique_name: str
) -> None:
    redlock = Redlock(servers.sync_clients(), ttl=0.9)
    with redlock(unique_name) as lease:
        first = lease.valid_until
        time.sleep(2.0)  # two TTLs: extended at 2/3 of each validity window
        lease.check()
        assert not lease.lost.is_set()
        assert lease.valid_until > first + 1.0
        assert redlock.stats.extended >= 2


def test_lease_lost_during_auto_extension_sets_lost(
    fresh_servers: Callable[[int], Servers], unique_name: str
) -> None:
    servers = fresh_servers(5)
    redlock = Redlock(servers.sync_clients(socket_timeout=5.0), ttl=1.5)
    lease = redlock(unique_name).acquire()
    valid_until = lease.valid_until
    for i in (0, 1, 2):
        servers.stop(i)
    try:
        assert lease.lost.wait(3.0), "loss was not reported"
        noticed = time.monotonic()
        assert lease.lost_reason == "extension_failed"
        assert noticed < valid_until + 0.05, "loss reported after validity ended"
        with pytest.raises(LockLost):
            lease.check()
    finally:
        for i in (0, 1, 2):
            servers.resume(i)
    assert lease.release() in ("released", "already_expired")


def test_extension_rejected_when_keys_are_gone(servers: Servers, unique_name: str) -> None:
    clients = servers.sync_clients()
    redlock = Redlock(clients, ttl=1.5)
    lease = redlock(unique_name).acquire()
    for c in clients:
        c.delete(lock_key(unique_name))
    assert lease.lost.wait(3.0)
    assert lease.lost_reason == "rejected"
    assert lease.release() == "already_expired"


def test_async_lease_lost_sets_the_asyncio_event(
    fresh_servers: Callable[[int], Servers], unique_name: str
) -> None:
    servers = fresh_servers(5)

    async def main() -> None:
        redlock = AsyncRedlock(servers.async_clients(socket_timeout=5.0), ttl=1.5)
        lease = await redlock(unique_name).acquire()
        valid_until = lease.valid_until
        for i in (0, 1, 2):
            servers.stop(i)
        try:
            await asyncio.wait_for(lease.lost.wait(), 3.0)
            assert time.monotonic() < valid_until + 0.05, "loss reported after validity ended"
            assert lease.lost_reason == "extension_failed"
            with pytest.raises(LockLost):
                lease.check()
            with pytest.raises(LockLost):
                await lease.extend()
        finally:
            for i in (0, 1, 2):
                servers.resume(i)
        assert await lease.release() in ("released", "already_expired")

    asyncio.run(main())


HOLDER = r"""
import sys, redis, fencelock
ports = [int(p) for p in sys.argv[1].split(",")]
redlock = fencelock.Redlock([redis.Redis(port=p) for p in ports[:5]], ttl=0.5, auto_extend=False)
guard = fencelock.RedisFenceGuard(redis.Redis(port=ports[5]), sys.argv[2])
lease = redlock(sys.argv[2]).acquire()
print(lease.fencing_token, flush=True)
sys.stdin.readline()          # the test pauses us (SIGSTOP) here, past our validity
print("admitted" if guard.write(lease.fencing_token, "late") else "rejected", flush=True)
"""


def test_paused_holder_late_write_is_rejected(servers: Servers, unique_name: str) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, ",".join(map(str, servers.ports)), unique_name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        stale_token = int(holder.stdout.readline())
        os.kill(holder.pid, signal.SIGSTOP)  # a GC pause, a VM migration ...
        time.sleep(0.7)  # past the holder's validity
        redlock = Redlock(servers.sync_clients(), ttl=5.0, retry=CONTENDED)
        guard = RedisFenceGuard(sync_client(servers.resource), unique_name)
        with redlock(unique_name, timeout=5.0) as lease:
            assert lease.fencing_token is not None and lease.fencing_token > stale_token
            assert guard.write(lease.fencing_token, "fresh")
        os.kill(holder.pid, signal.SIGCONT)
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "rejected"
        assert guard.read() == b"fresh"
    finally:
        os.kill(holder.pid, signal.SIGCONT)
        holder.kill()
        holder.wait()


def test_async_cancelled_acquire_leaves_no_key(servers: Servers, unique_name: str) -> None:
    clients = servers.sync_clients()

    async def main() -> None:
        redlock = AsyncRedlock(servers.async_clients(), ttl=5.0, retry=CONTENDED)
        held = await redlock(unique_name).acquire()
        waiting = asyncio.ensure_future(redlock(unique_name).acquire())
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.sleep(0.1)  # the cancelled machine's releases land
        assert await held.release() == "released"

    asyncio.run(main())
    eventually(keys_gone(clients, unique_name))


def test_sql_fence_guard_with_sqlite(tmp_path: Path, servers: Servers, unique_name: str) -> None:
    db = sqlite3.connect(str(tmp_path / "fenced.db"))
    db.execute("CREATE TABLE accounts (id TEXT PRIMARY KEY, balance INT, fence_token INT)")
    db.execute("INSERT INTO accounts VALUES ('a', 0, 0)")
    guard = SqlFenceGuard("accounts", ["balance"], paramstyle="qmark")
    redlock = Redlock(servers.sync_clients(), ttl=5.0)
    with redlock(unique_name) as first:
        pass
    with redlock(unique_name) as second:
        assert second.fencing_token is not None and first.fencing_token is not None
        assert guard.write(db.cursor(), [10], second.fencing_token, "a")
    assert not guard.write(db.cursor(), [99], first.fencing_token, "a")  # a stale holder
    assert db.execute("SELECT balance, fence_token FROM accounts").fetchone() == (
        10,
        second.fencing_token,
    )


def test_a_dropped_lease_stops_being_extended(servers: Servers, unique_name: str) -> None:
    clients = servers.sync_clients()
    redlock = Redlock(clients, ttl=0.3)
    lease = redlock(unique_name).acquire()
    held = weakref.ref(lease)
    del lease
    gc.collect()
    assert held() is None
    # Nobody drives it any more: no extension, so the keys expire with their TTL.
    eventually(keys_gone(clients, unique_name), within=1.0)

    async def main() -> None:
        aredlock = AsyncRedlock(servers.async_clients(), ttl=0.3)
        alease = await aredlock(unique_name).acquire()
        aheld = weakref.ref(alease)
        del alease
        gc.collect()
        assert aheld() is None
        await asyncio.sleep(0.6)

    asyncio.run(main())
    assert all(c.get(lock_key(unique_name)) is None for c in clients)
