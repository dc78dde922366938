"""Live tests against real ZooKeeper (Debian's 3.8) over kazoo.

The server is started by the ``zookeeper`` fixture (``servers.sh
start-zookeeper``); the leader-kill test gets a fresh 3-server ensemble
(``zookeeper_ensemble``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from kazoo.client import KazooClient  # type: ignore[import-untyped]

from fencelock import (
    AsyncZooKeeperLock,
    InvalidInput,
    LockLost,
    LockNotAcquired,
    Retry,
    UsageError,
    ZooKeeperElection,
    ZooKeeperLock,
)

from conftest import ZooKeeper
from contention import MemoryCounter, Run, async_hold_worker, hold_worker

pytestmark = pytest.mark.live

RETRY = Retry.exponential(0.01, 0.2, jitter=0.01, max_attempts=None)


def path_of(unique_name: str) -> str:
    return "/fencelock-py/" + unique_name.replace("[", "-").replace("]", "")


def eventually(check: Callable[[], bool], within: float = 10.0, step: float = 0.02) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(step)


@pytest.fixture
def clients(zookeeper: ZooKeeper) -> Iterator[Callable[..., KazooClient]]:
    """Makes kazoo clients on the shared server (closed after the test)."""
    made: list[KazooClient] = []

    def make(hosts: str | None = None, timeout: float = 10.0, start: bool = True) -> KazooClient:
        client = KazooClient(hosts=hosts or zookeeper.hosts, timeout=timeout)
        made.append(client)
        if start:
            client.start(timeout=15)
        return client

    try:
        yield make
    finally:
        for client in made:
            try:
                client.stop()
                client.close()
            except Exception:
                pass


# ----- basics --------------------------------------------------------------------------------


def test_node_layout_token_and_release(
    clients: Callable[..., KazooClient], unique_name: str
) -> None:
    path = path_of(unique_name)
    client = clients(start=False)
    locks = ZooKeeperLock(client)
    client.start(timeout=15)
    with locks(path, timeout=5.0) as lease:
        children = client.get_children(path)
        assert len(children) == 1 and children[0].endswith("-lock-0000000000")
        assert lease.node == f"{path}/{children[0]}"
        _, stat = client.get(lease.node)
        assert lease.fencing_token == stat.czxid  # the token is the czxid (a Python int)
        assert lease.session_id == client.client_id[0] == stat.ephemeralOwner
        assert 0 < lease.remaining() <= locks.session_timeout
        assert lease.state == "held"
        lease.check()
    assert lease.state == "released"
    assert client.get_children(path) == []
    with pytest.raises(UsageError):
        lease.check()


def test_negotiated_session_timeout_is_what_the_machine_counts_with(
    clients: Callable[..., KazooClient],
) -> None:
    client = clients(timeout=60.0, start=False)  # tickTime=2000: the server caps it at 40 s
    locks = ZooKeeperLock(client)
    client.start(timeout=15)
    assert client._session_timeout == 60_000  # what kazoo keeps: the requested value
    assert locks.session_timeout == 40.0  # what the server negotiated


def test_try_lock_fails_and_leaves_no_node(
    clients: Callable[..., KazooClient], unique_name: str
) -> None:
    path = path_of(unique_name)
    holder_client, other_client = clients(), clients()
    holder = ZooKeeperLock(holder_client).acquire(path)
    try:
        with pytest.raises(LockNotAcquired) as failed:
            ZooKeeperLock(other_client).acquire(path, try_lock=True)
        assert failed.value.reason == "locked"
        assert [f"{path}/{c}" for c in holder_client.get_children(path)] == [holder.node]
    finally:
        assert holder.release() == "released"


def test_bad_input_is_typed(clients: Callable[..., KazooClient]) -> None:
    client = clients()
    locks = ZooKeeperLock(client)
    with pytest.raises(InvalidInput):
        locks.acquire(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        ZooKeeperLock("not a client")  # type: ignore[arg-type]
    for bad in ("relative/path", "/", "/zookeeper/x", "/a/"):
        with pytest.raises(Exception) as raised:
            locks.acquire(bad)
        assert getattr(raised.value, "code", None) in ("INVALID_NAME", "EMPTY_RESOURCE"), bad
    stopped = clients(start=False)
    with pytest.raises(UsageError):
        ZooKeeperLock(stopped).acquire("/fencelock-py/never")


# ----- contention: 20 clients -------------------------------------------------------------------


def test_twenty_clients_on_one_fenced_counter(
    clients: Callable[..., KazooClient], unique_name: str
) -> None:
    path = path_of(unique_name)
    run = Run(target=100, limit=150.0)
    counter = MemoryCounter()
    workers = []
    for i in range(20):
        locks = ZooKeeperLock(clients(), retry=RETRY)
        workers.append(
            threading.Thread(
                target=hold_worker,
                args=(
                    run,
                    lambda locks=locks: locks.acquire(path, timeout=60.0),
                    counter,
                    f"client-{i}",
                ),
                daemon=True,
            )
        )
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=run.limit + 60)
        assert not t.is_alive(), "a worker did not finish in time"
    run.check()
    assert counter.value == run.target
    assert clients().get_children(path) == []


def test_asyncio_facade_on_one_fenced_counter(
    clients: Callable[..., KazooClient], unique_name: str
) -> None:
    path = path_of(unique_name)
    run = Run(target=40, limit=120.0)
    counter = MemoryCounter()
    kazoo_clients = [clients() for _ in range(4)]

    async def main() -> None:
        lockers = [AsyncZooKeeperLock(c, retry=RETRY) for c in kazoo_clients]
        await asyncio.gather(
            *(
                async_hold_worker(
                    run,
                    lambda locks=lockers[i % 4]: locks.acquire(path, timeout=60.0),
                    counter,
                    f"task-{i}",
                )
                for i in range(10)
            )
        )

    asyncio.run(main())
    run.check()
    assert kazoo_clients[0].get_children(path) == []


# ----- session loss -------------------------------------------------------------------------------


def expire_session(zookeeper: ZooKeeper, client: KazooClient) -> None:
    """Ends ``client``'s session from the server's side: a second client joins the
    session with its id and password, then closes it."""
    intruder = KazooClient(hosts=zookeeper.hosts, client_id=client.client_id, timeout=10.0)
    intruder.start(timeout=15)
    intruder.stop()
    intruder.close()


def test_session_expiry_sets_lost_and_the_next_holder_gets_a_higher_token(
    zookeeper: ZooKeeper, clients: Callable[..., KazooClient], unique_name: str
) -> None:
    path = path_of(unique_name)
    holder_client = clients(timeout=4.0)
    lease = ZooKeeperLock(holder_client).acquire(path)
    waiter: list[Any] = []
    other = ZooKeeperLock(clients())
    thread = threading.Thread(
        target=lambda: waiter.append(other.acquire(path, timeout=30.0)), daemon=True
    )
    thread.start()
    time.sleep(0.3)
    assert not waiter
    started = time.monotonic()
    expire_session(zookeeper, holder_client)
    assert lease.lost.wait(10.0), "the expired session was not noticed"
    assert lease.lost_reason == "session_expired"
    assert time.monotonic() - started < 10.0
    assert lease.remaining() == 0
    with pytest.raises(LockLost) as lost:
        lease.check()
    assert lost.value.reason == "session_expired"
    thread.join(timeout=30)
    assert waiter, "the waiter did not get the lock"
    assert waiter[0].fencing_token > lease.fencing_token
    assert lease.release() == "already_expired"
    assert waiter[0].release() == "released"


def test_election_campaign_and_resign(
    clients: Callable[..., KazooClient], unique_name: str
) -> None:
    path = path_of(unique_name)
    first_client, second_client = clients(), clients()
    first = ZooKeeperElection(first_client).campaign(path, "node-1")
    data, _ = first_client.get(first.node)
    assert data == b"node-1"
    second: list[Any] = []
    thread = threading.Thread(
        target=lambda: second.append(
            ZooKeeperElection(second_client).campaign(path, "node-2", timeout=20.0)
        ),
        daemon=True,
    )
    thread.start()
    time.sleep(0.3)
    assert not second
    assert first.resign() == "released"
    thread.join(timeout=10)
    assert second and second[0].fencing_token > first.fencing_token
    assert second[0].resign() == "released"


# ----- the ensemble leader killed while the lock is held and contended ----------------------------


def server_mode(endpoint: str) -> str | None:
    host, port = endpoint.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1.0) as s:
            s.sendall(b"srvr")
            s.settimeout(1.0)
            data = b""
            while chunk := s.recv(4096):
                data += chunk
    except OSError:
        return None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("Mode: "):
            return line[len("Mode: ") :].strip()
    return None


def test_ensemble_leader_killed_while_held_and_contended(
    zookeeper_ensemble: ZooKeeper, unique_name: str
) -> None:
    path = path_of(unique_name)
    run = Run(target=10_000, limit=12.0)  # bounded by time: as many as fit
    counter = MemoryCounter()
    made = [KazooClient(hosts=zookeeper_ensemble.hosts, timeout=10.0) for _ in range(10)]
    try:
        for c in made:
            c.start(timeout=20)
        # kazoo forgets its data watches when a connection drops (it calls them with
        # a session event, which the machine does not take): waiters connected to the
        # killed server re-list after `recheck` instead of the session timeout.
        lockers = [ZooKeeperLock(c, retry=RETRY, recheck=1.0) for c in made]
        workers = [
            threading.Thread(
                target=hold_worker,
                args=(
                    run,
                    lambda locks=locks: locks.acquire(path, timeout=30.0),
                    counter,
                    f"client-{i}",
                ),
                kwargs={"hold": 0.005, "margin": 0.5},
                daemon=True,
            )
            for i, locks in enumerate(lockers)
        ]
        for t in workers:
            t.start()
        time.sleep(3.0)
        before_kill = len(run.writes)
        assert before_kill > 0
        modes = {e: server_mode(e) for e in zookeeper_ensemble.endpoints}
        leaders = [i for i, e in enumerate(zookeeper_ensemble.endpoints) if modes[e] == "leader"]
        assert len(leaders) == 1, modes
        assert run.holder is not None or before_kill > 0
        os.kill(zookeeper_ensemble.pids[leaders[0]], signal.SIGKILL)
        for t in workers:
            t.join(timeout=run.limit + 60)
            assert not t.is_alive(), "a worker did not finish in time"
        after_kill = len(run.writes) - before_kill
        print(f"leader killed: {before_kill} writes before, {after_kill} after")
        assert after_kill > 0, "no acquisition after the leader was killed"
        # No overlap, every write admitted, tokens strictly increasing, no lost update.
        run.target = len(run.writes)
        run.check()
        assert counter.value == len(run.writes)
    finally:
        for c in made:
            try:
                c.stop()
                c.close()
            except Exception:
                pass
