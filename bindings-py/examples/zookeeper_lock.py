"""ZooKeeper: a lock (sync) and the same lock from asyncio code, over kazoo."""

from __future__ import annotations

import asyncio

from kazoo.client import KazooClient  # type: ignore[import-untyped]

from fencelock import AsyncZooKeeperLock, LockLost, ZooKeeperElection, ZooKeeperLock

from _ports import zookeeper_hosts


def main() -> None:
    client = KazooClient(hosts=zookeeper_hosts(), timeout=10.0)
    locks = ZooKeeperLock(client)  # before start(): it reads the negotiated session timeout
    client.start()
    try:
        with locks("/locks/orders", timeout=5.0) as lease:
            print(f"held {lease.node}, token (czxid) {lease.fencing_token}")
            print(f"{lease.remaining():.1f} s of session validity left")
            try:
                lease.check()
            except LockLost as e:
                print(f"lost ({e.reason}): the session ended")

        leadership = ZooKeeperElection(client).campaign("/election/scheduler", "node-1")
        print("elected:", leadership.node)
        leadership.resign()

        async def from_asyncio() -> None:
            async with AsyncZooKeeperLock(client)("/locks/orders", timeout=5.0) as lease:
                await asyncio.sleep(0.01)
                print(f"held from asyncio with token {lease.fencing_token}")

        asyncio.run(from_asyncio())
    finally:
        client.stop()
        client.close()


if __name__ == "__main__":
    main()
