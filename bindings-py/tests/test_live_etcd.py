"""Live tests against a real etcd (Debian's etcd 3.4), through its JSON gateway.

The etcd server is started by the ``etcd`` fixture (``servers.sh start-etcd``).
Checks beside the machines go through the core's codec too
(``lowlevel.etcd_gateway_encode`` / ``decode``), over ``urllib``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable

import pytest

from fencelock import (
    AsyncEtcdElection,
    AsyncEtcdLock,
    EtcdElection,
    EtcdLock,
    LockLost,
    LockNotAcquired,
    Retry,
    UsageError,
    lowlevel,
)

from conftest import Etcd
from contention import MemoryCounter, Run, async_hold_worker, hold_worker

pytestmark = pytest.mark.live

# Many contenders in one process: the machines retry failed requests quickly.
RETRY = Retry.exponential(0.01, 0.2, jitter=0.01, max_attempts=None)


def gateway(endpoint: str, command: dict[str, Any]) -> dict[str, Any]:
    """One raw gateway call, encoded and decoded by the core's codec."""
    encoded = lowlevel.etcd_gateway_encode(command)
    assert encoded is not None
    path, body = encoded
    request = urllib.request.Request(
        f"http://{endpoint}{path}",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            data = response.read()
    except urllib.error.HTTPError as e:
        data = e.read()
    return lowlevel.etcd_gateway_decode(command, data)


def keys_under(endpoint: str, name: str) -> list[dict[str, Any]]:
    reply = gateway(
        endpoint,
        {"type": "range", "req": 1, "range": {"key": f"{name}/", "range_end": f"{name}0"}},
    )
    assert reply["type"] == "range", reply
    kvs: list[dict[str, Any]] = reply["kvs"]
    return kvs


def revoke(endpoint: str, lease: int) -> None:
    reply = gateway(endpoint, {"type": "lease_revoke", "req": 1, "lease": str(lease)})
    assert reply["type"] == "lease_revoked", reply


def eventually(check: Callable[[], bool], within: float = 10.0, step: float = 0.02) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(step)


def name_of(unique_name: str) -> str:
    return unique_name.replace("[", "-").replace("]", "")


# ----- basics --------------------------------------------------------------------------------


def test_key_layout_token_and_release(etcd: Etcd, unique_name: str) -> None:
    name = name_of(unique_name)
    endpoint = etcd.endpoints[0]
    locks = EtcdLock(etcd.endpoints, ttl=5)
    with locks(name, timeout=5.0) as lease:
        assert lease.key == f"{name}/{lease.lease_id:x}"  # Go's layout
        kvs = keys_under(endpoint, name)
        assert [kv["key"] for kv in kvs] == [lease.key]
        assert lease.fencing_token == kvs[0]["create_revision"]  # the token
        assert int(kvs[0]["lease"]) == lease.lease_id
        assert 4.0 < lease.remaining() <= 5.0
        assert lease.valid_until > time.monotonic()
        assert lease.state == "held"
        lease.check()
    assert lease.state == "released"
    assert keys_under(endpoint, name) == []
    with pytest.raises(UsageError):
        lease.check()
    with pytest.raises(UsageError) as twice:
        lease.release()
    assert twice.value.code == "INVALID_STATE"


def test_try_lock_fails_and_leaves_no_key(etcd: Etcd, unique_name: str) -> None:
    name = name_of(unique_name)
    locks = EtcdLock(etcd.endpoints, ttl=5)
    holder = locks.acquire(name)
    try:
        with pytest.raises(LockNotAcquired) as failed:
            locks.acquire(name, try_lock=True)
        assert failed.value.reason == "locked"
        assert failed.value.code == "LOCK_NOT_ACQUIRED"
        assert [kv["key"] for kv in keys_under(etcd.endpoints[0], name)] == [holder.key]
        with pytest.raises(LockNotAcquired) as late:
            locks.acquire(name, timeout=0.3)
        assert late.value.reason == "deadline"
        assert [kv["key"] for kv in keys_under(etcd.endpoints[0], name)] == [holder.key]
    finally:
        assert holder.release() == "released"


def test_keep_alives_run_over_several_ttls(etcd: Etcd, unique_name: str) -> None:
    locks = EtcdLock(etcd.endpoints, ttl=2)
    with locks(name_of(unique_name), timeout=5.0) as lease:
        first = lease.valid_until
        time.sleep(5.0)  # two and a half TTLs
        lease.check()
        assert lease.valid_until > first + 2.0
        assert lease.remaining() > 0.5
        assert not lease.lost.is_set()


# ----- contention: 20 threads and 20 asyncio tasks on one lock ------------------------------


def test_twenty_threads_and_twenty_tasks_on_one_fenced_counter(
    etcd: Etcd, unique_name: str
) -> None:
    name = name_of(unique_name)
    run = Run(target=120, limit=150.0)
    counter = MemoryCounter()
    locks = EtcdLock(etcd.endpoints, ttl=10, retry=RETRY)
    threads = [
        threading.Thread(
            target=hold_worker,
            args=(run, lambda: locks.acquire(name, timeout=60.0), counter, f"thread-{i}"),
            daemon=True,
        )
        for i in range(20)
    ]

    async def tasks() -> None:
        alocks = AsyncEtcdLock(etcd.endpoints, ttl=10, retry=RETRY)
        await asyncio.gather(
            *(
                async_hold_worker(
                    run, lambda: alocks.acquire(name, timeout=60.0), counter, f"task-{i}"
                )
                for i in range(20)
            )
        )

    loop_thread = threading.Thread(target=lambda: asyncio.run(tasks()), daemon=True)
    for t in [*threads, loop_thread]:
        t.start()
    for t in [*threads, loop_thread]:
        t.join(timeout=run.limit + 60)
        assert not t.is_alive(), "a worker did not finish in time"
    run.check()
    assert counter.value == run.target
    assert keys_under(etcd.endpoints[0], name) == []  # every waiter removed its key


# ----- interop with a real Go holder ---------------------------------------------------------


def etcdctl(etcd: Etcd, *args: str) -> subprocess.Popen[str]:
    binary = shutil.which("etcdctl")
    assert binary is not None, "etcdctl not found (apt-get install -y etcd-client)"
    env = dict(os.environ, ETCDCTL_API="3")
    return subprocess.Popen(
        [binary, f"--endpoints={etcd.endpoints[0]}", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_go_holder_blocks_ours(etcd: Etcd, unique_name: str) -> None:
    name = name_of(unique_name)
    go = etcdctl(etcd, "lock", name, "--", "sleep", "2")
    try:
        eventually(lambda: len(keys_under(etcd.endpoints[0], name)) == 1)
        go_key = keys_under(etcd.endpoints[0], name)[0]["key"]
        assert go_key.startswith(f"{name}/")
        locks = EtcdLock(etcd.endpoints, ttl=5)
        with pytest.raises(LockNotAcquired) as failed:
            locks.acquire(name, try_lock=True)
        assert failed.value.reason == "locked"
        started = time.monotonic()
        with locks(name, timeout=15.0) as lease:
            waited = time.monotonic() - started
            # etcdctl deletes its key when its command ends, then exits: the key is
            # gone by the time we hold the lock, and the process ends right after.
            held = [kv["key"] for kv in keys_under(etcd.endpoints[0], name)]
            assert go_key not in held, "ours acquired while the Go holder still held"
            assert go.wait(timeout=10) == 0
            assert waited > 1.0
            assert lease.key != go_key
    finally:
        go.kill()
        go.wait(timeout=10)


def test_ours_blocks_a_go_holder(etcd: Etcd, unique_name: str) -> None:
    name = name_of(unique_name)
    locks = EtcdLock(etcd.endpoints, ttl=5)
    lease = locks.acquire(name)
    go = etcdctl(etcd, "lock", name, "--", "echo", "go-got-it")
    try:
        eventually(lambda: len(keys_under(etcd.endpoints[0], name)) == 2)
        time.sleep(1.0)
        assert go.poll() is None, "the Go holder ran while we held the lock"
        kvs = keys_under(etcd.endpoints[0], name)
        ours = next(kv for kv in kvs if kv["key"] == lease.key)
        theirs = next(kv for kv in kvs if kv["key"] != lease.key)
        assert theirs["create_revision"] > ours["create_revision"]  # queued behind ours
        assert lease.release() == "released"
        out, _ = go.communicate(timeout=10)
        assert "go-got-it" in out
        assert go.returncode == 0
    finally:
        go.kill()
        go.wait(timeout=10)


# ----- loss ------------------------------------------------------------------------------------


def test_lease_revoked_during_keep_alive_sets_lost(etcd: Etcd, unique_name: str) -> None:
    name = name_of(unique_name)
    locks = EtcdLock(etcd.endpoints, ttl=3)
    lease = locks.acquire(name)
    revoke(etcd.endpoints[0], lease.lease_id)
    # The next keep-alive (a third of the TTL after the last one) learns it.
    assert lease.lost.wait(5.0), "the revoked lease was not noticed"
    assert lease.lost_reason == "revoked"
    assert lease.remaining() == 0
    with pytest.raises(LockLost) as lost:
        lease.check()
    assert lost.value.reason == "revoked"
    assert lost.value.code == "LEASE_LOST"
    assert lease.release() == "already_expired"
    # The next holder gets a larger token.
    with locks(name, timeout=5.0) as after:
        assert after.fencing_token > lease.fencing_token


def test_lease_revoked_during_keep_alive_sets_lost_asyncio(etcd: Etcd, unique_name: str) -> None:
    name = name_of(unique_name)

    async def main() -> None:
        locks = AsyncEtcdLock(etcd.endpoints, ttl=3)
        lease = await locks.acquire(name)
        revoke(etcd.endpoints[0], lease.lease_id)
        await asyncio.wait_for(lease.lost.wait(), 5.0)
        assert lease.lost_reason == "revoked"
        with pytest.raises(LockLost):
            lease.check()
        assert await lease.release() == "already_expired"

    asyncio.run(main())


def test_lease_lost_while_queued_cleans_up_by_itself(etcd: Etcd, unique_name: str) -> None:
    name = name_of(unique_name)
    leases: list[int] = []
    locks = EtcdLock(
        etcd.endpoints,
        ttl=3,
        on_event=lambda names, e: (
            leases.append(int(e["lease"])) if e["type"] == "lease_granted" else None
        ),
    )
    holder = locks.acquire(name)
    failure: list[BaseException] = []

    def wait() -> None:
        try:
            locks.acquire(name, timeout=20.0)
        except BaseException as e:
            failure.append(e)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    eventually(lambda: len(keys_under(etcd.endpoints[0], name)) == 2)
    revoke(etcd.endpoints[0], leases[-1])  # the waiter's lease
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    assert len(failure) == 1 and isinstance(failure[0], LockNotAcquired), failure
    assert failure[0].reason == "lost"
    assert failure[0].lost_reason in ("revoked", "key_deleted")
    assert [kv["key"] for kv in keys_under(etcd.endpoints[0], name)] == [holder.key]
    assert holder.release() == "released"


# ----- waiting by polling ----------------------------------------------------------------------


def test_poll_mode_waits_for_the_holder(etcd: Etcd, unique_name: str) -> None:
    name = name_of(unique_name)
    holder = EtcdLock(etcd.endpoints, ttl=5).acquire(name)
    polling = EtcdLock(etcd.endpoints, ttl=5, wait="poll", poll_interval=0.05)
    timer = threading.Timer(0.5, holder.release)
    timer.start()
    started = time.monotonic()
    with polling(name, timeout=10.0) as lease:
        assert time.monotonic() - started >= 0.4
        assert lease.fencing_token > holder.fencing_token
        assert lease.stats["queued"] is True
    timer.join()


# ----- election --------------------------------------------------------------------------------


def test_election_campaign_proclaim_observe_resign(etcd: Etcd, unique_name: str) -> None:
    name = name_of(unique_name)
    election = EtcdElection(etcd.endpoints, ttl=5)
    assert election.leader(name) is None
    first = election.campaign(name, "node-1")
    leader = election.leader(name)
    assert leader is not None
    assert (leader.key, leader.value, leader.revision) == (first.key, "node-1", first.fencing_token)
    assert leader.lease == first.lease_id
    with election.observe(name) as observation:
        assert observation.current == leader
        second: list[Any] = []
        campaigner = threading.Thread(
            target=lambda: second.append(election.campaign(name, "node-2", timeout=20.0)),
            daemon=True,
        )
        campaigner.start()
        assert first.proclaim("node-1 at :8080") is True
        changed = observation.get(timeout=5.0)
        assert changed is not None and changed.value == "node-1 at :8080"
        assert changed.key == first.key
        time.sleep(0.3)
        assert not second, "a second leader while the first still leads"
        assert first.resign() == "released"
        campaigner.join(timeout=10)
        assert second, "the second campaigner was not elected"
        new = observation.get(timeout=5.0)
        while new is not None and new.value != "node-2":  # the latest leader is reported
            new = observation.get(timeout=5.0)
        assert new is not None and new.key == second[0].key
        assert second[0].fencing_token > first.fencing_token
        with pytest.raises(UsageError) as resigned:
            first.proclaim("too late")
        assert resigned.value.code == "INVALID_STATE"
        assert second[0].resign() == "released"
        assert observation.get(timeout=5.0) is None
    with pytest.raises(StopIteration):
        next(observation)


def test_proclaim_after_losing_leadership_raises_lock_lost(etcd: Etcd, unique_name: str) -> None:
    name = name_of(unique_name)
    election = EtcdElection(etcd.endpoints, ttl=3)
    leadership = election.campaign(name, "node-1")
    revoke(etcd.endpoints[0], leadership.lease_id)
    with pytest.raises(LockLost):
        # The guarded put finds our key gone (or the keep-alive reported the lease
        # gone first): leadership is lost either way.
        leadership.proclaim("node-1 again")
    assert leadership.lost.is_set()
    assert leadership.resign() == "already_expired"
    assert election.leader(name) is None


def test_election_asyncio(etcd: Etcd, unique_name: str) -> None:
    name = name_of(unique_name)

    async def main() -> None:
        election = AsyncEtcdElection(etcd.endpoints, ttl=5)
        leadership = await election.campaign(name, "a")
        observation = await election.observe(name)
        assert observation.current is not None and observation.current.value == "a"
        assert await leadership.proclaim("b") is True
        changed = await observation.get(timeout=5.0)
        assert changed is not None and changed.value == "b"
        waiting = asyncio.ensure_future(election.campaign(name, "c", timeout=10.0))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        assert await leadership.resign() == "released"
        second = await waiting
        assert second.fencing_token > leadership.fencing_token
        leader = await election.leader(name)
        assert leader is not None and leader.value == "c"
        await second.resign()
        observation.close()

    asyncio.run(main())


def test_cancelled_asyncio_acquire_removes_its_key(etcd: Etcd, unique_name: str) -> None:
    name = name_of(unique_name)

    async def main() -> None:
        locks = AsyncEtcdLock(etcd.endpoints, ttl=5)
        holder = await locks.acquire(name)
        waiting = asyncio.ensure_future(locks.acquire(name))
        await asyncio.sleep(0.3)
        assert len(keys_under(etcd.endpoints[0], name)) == 2
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        for _ in range(200):
            if len(keys_under(etcd.endpoints[0], name)) == 1:
                break
            await asyncio.sleep(0.02)
        assert [kv["key"] for kv in keys_under(etcd.endpoints[0], name)] == [holder.key]
        await holder.release()

    asyncio.run(main())
