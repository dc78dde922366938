"""etcd: a lease mutex (sync) and an election (asyncio) over the JSON gateway.

Our holders and Go's ``concurrency`` package (``etcdctl lock``) exclude each other.
"""

from __future__ import annotations

import asyncio

from fencelock import AsyncEtcdElection, EtcdLock, FenceGuard, LockLost, LockNotAcquired

from _ports import etcd_endpoints


def lock() -> None:
    locks = EtcdLock(etcd_endpoints(), ttl=10)  # keep-alives every ttl / 3, in the background
    resource = FenceGuard()  # the protected resource's side: refuses older tokens

    with locks("orders", timeout=5.0) as lease:  # raises LockNotAcquired
        print(f"held {lease.key} with token {lease.fencing_token}")
        lease.check()  # raises LockLost once the lease is gone
        assert resource.admit(lease.fencing_token)

    try:
        locks.acquire("orders", try_lock=True).release()
    except LockNotAcquired as e:
        print(f"someone else holds it: {e.reason}")


async def elect() -> None:
    election = AsyncEtcdElection(etcd_endpoints(), ttl=5, wait="poll", poll_interval=0.1)
    leadership = await election.campaign("scheduler", "node-1", timeout=10.0)
    observation = await election.observe("scheduler")
    print("leader:", observation.current)
    try:
        await leadership.proclaim("node-1 at :8080")
        print("now:", await observation.get(timeout=5.0))
    except LockLost as e:
        print(f"leadership lost ({e.reason})")
    finally:
        print("resign:", await leadership.resign())
        observation.close()


if __name__ == "__main__":
    lock()
    asyncio.run(elect())
