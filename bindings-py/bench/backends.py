"""Acquire + release latency of the etcd, ZooKeeper and PostgreSQL locks, in one
process and one run, against local servers:

- etcd (one member, JSON gateway): fencelock's EtcdLock (sync) and AsyncEtcdLock,
  and a floor: the same four gateway requests a lock cycle makes (lease grant,
  create-if-absent txn, delete txn, lease revoke), encoded by the core's codec and
  sent back to back with http.client on one keep-alive connection;
- ZooKeeper (one server): fencelock's ZooKeeperLock (sync) and AsyncZooKeeperLock
  against kazoo's own ``Lock`` recipe, each on a kazoo client of its own;
- PostgreSQL (one server): fencelock's AdvisoryLock (sync) and AsyncAdvisoryLock,
  each on one connection, against a bare ``pg_try_advisory_lock`` /
  ``pg_advisory_unlock`` loop with psycopg (sync and asyncio) on one connection.

One worker, lock + release back to back, uncontended; the contenders of a backend
take turns every 50 cycles (a burst of load from elsewhere hits them alike);
p50 / p95 over every sample, and their ratio to the backend's floor.

Usage: python bench/backends.py [--iterations N] [--markdown]
Servers: FENCELOCK_ETCD_ENDPOINTS / FENCELOCK_ZK_ENDPOINTS / FENCELOCK_PG_PORT when
set, else each is started with conformance/live/servers.sh and stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Union

import psycopg
from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kazoo.recipe.lock import Lock as KazooLock  # type: ignore[import-untyped]

from fencelock import (
    AdvisoryLock,
    AsyncAdvisoryLock,
    AsyncEtcdLock,
    AsyncZooKeeperLock,
    EtcdLock,
    ZooKeeperLock,
    lowlevel,
)

BLOCK = 50
Cycle = Union[Callable[[], None], Callable[[], Awaitable[None]]]


@dataclass
class Result:
    backend: str
    name: str
    floor: bool = False
    latencies: list[float] = field(default_factory=list)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(contenders: list[tuple[Result, Cycle]], iterations: int) -> None:
    """Runs every contender's cycle ``iterations`` times, taking turns by blocks."""
    for _ in range(5):  # warm up: connections, prepared statements, caches
        for _, cycle in contenders:
            out = cycle()
            if asyncio.iscoroutine(out):
                await out
    done = 0
    while done < iterations:
        n = min(BLOCK, iterations - done)
        for result, cycle in contenders:
            for _ in range(n):
                start = time.perf_counter()
                out = cycle()
                if asyncio.iscoroutine(out):
                    await out
                result.latencies.append(time.perf_counter() - start)
        done += n


# ----- etcd ------------------------------------------------------------------------------------


class EtcdFloor:
    """The four gateway requests of an uncontended lock cycle, back to back."""

    def __init__(self, endpoint: str) -> None:
        host, port = endpoint.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=5)
        self.n = 0

    def call(self, command: dict[str, Any]) -> dict[str, Any]:
        encoded = lowlevel.etcd_gateway_encode(command)
        assert encoded is not None
        path, body = encoded
        self.conn.request("POST", path, body, {"Content-Type": "application/json"})
        return lowlevel.etcd_gateway_decode(command, self.conn.getresponse().read())

    def cycle(self) -> None:
        self.n += 1
        grant = self.call({"type": "lease_grant", "req": 1, "ttl": 10})
        lease = grant["lease"]
        key = f"bench-floor/{int(lease):x}"
        absent = [{"type": "create_revision", "key": key, "revision": 0}]
        put = [{"type": "put", "key": key, "value": "", "lease": lease}]
        txn = self.call({"type": "txn", "req": 2, "compare": absent, "success": put, "failure": []})
        assert txn["succeeded"], txn
        ours = [{"type": "create_revision", "key": key, "revision": txn["revision"]}]
        delete = [{"type": "delete_range", "key": key}]
        self.call({"type": "txn", "req": 3, "compare": ours, "success": delete, "failure": []})
        self.call({"type": "lease_revoke", "req": 4, "lease": lease})


async def bench_etcd(endpoints: list[str], iterations: int) -> list[Result]:
    sync_locks = EtcdLock(endpoints, ttl=10)
    async_locks = AsyncEtcdLock(endpoints, ttl=10)
    floor = EtcdFloor(endpoints[0])

    def sync_cycle() -> None:
        sync_locks.acquire("bench-sync").release()

    async def async_cycle() -> None:
        lease = await async_locks.acquire("bench-async")
        await lease.release()

    results = [
        Result("etcd", "floor: 4 gateway requests (http.client)", floor=True),
        Result("etcd", "fencelock EtcdLock (sync)"),
        Result("etcd", "fencelock AsyncEtcdLock"),
    ]
    await measure(list(zip(results, [floor.cycle, sync_cycle, async_cycle])), iterations)
    return results


# ----- ZooKeeper ---------------------------------------------------------------------------------


async def bench_zookeeper(hosts: str, iterations: int) -> list[Result]:
    clients = [KazooClient(hosts=hosts, timeout=10.0) for _ in range(3)]
    sync_locks = ZooKeeperLock(clients[0])
    async_locks = AsyncZooKeeperLock(clients[1])
    for c in clients:
        c.start(timeout=15)
    kazoo_lock = KazooLock(clients[2], "/bench/kazoo")

    def kazoo_cycle() -> None:
        kazoo_lock.acquire()
        kazoo_lock.release()

    def sync_cycle() -> None:
        sync_locks.acquire("/bench/sync").release()

    async def async_cycle() -> None:
        lease = await async_locks.acquire("/bench/async")
        await lease.release()

    results = [
        Result("ZooKeeper", "kazoo Lock (sync)", floor=True),
        Result("ZooKeeper", "fencelock ZooKeeperLock (sync)"),
        Result("ZooKeeper", "fencelock AsyncZooKeeperLock"),
    ]
    try:
        await measure(list(zip(results, [kazoo_cycle, sync_cycle, async_cycle])), iterations)
    finally:
        for c in clients:
            c.stop()
            c.close()
    return results


# ----- PostgreSQL --------------------------------------------------------------------------------


async def bench_postgres(conninfo: str, iterations: int) -> tuple[list[Result], list[Result]]:
    bare = psycopg.connect(conninfo, autocommit=True)
    sync_conn = psycopg.connect(conninfo, autocommit=True)
    abare = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    aconn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    sync_locks = AdvisoryLock(sync_conn)
    async_locks = AsyncAdvisoryLock(aconn)
    lock_sql = "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))"
    unlock_sql = "SELECT pg_advisory_unlock(hashtextextended(%s, 0))"

    def bare_cycle() -> None:
        row = bare.execute(lock_sql, ("bench-bare",)).fetchone()
        assert row is not None and row[0] is True
        bare.execute(unlock_sql, ("bench-bare",)).fetchone()

    async def abare_cycle() -> None:
        cur = await abare.execute(lock_sql, ("bench-abare",))
        row = await cur.fetchone()
        assert row is not None and row[0] is True
        await (await abare.execute(unlock_sql, ("bench-abare",))).fetchone()

    def sync_cycle() -> None:
        sync_locks.acquire("bench-sync").release()

    async def async_cycle() -> None:
        lease = await async_locks.acquire("bench-async")
        await lease.release()

    sync_results = [
        Result("PostgreSQL", "bare pg_try_advisory_lock + unlock (psycopg)", floor=True),
        Result("PostgreSQL", "fencelock AdvisoryLock (sync)"),
    ]
    async_results = [
        Result("PostgreSQL", "bare, asyncio (psycopg AsyncConnection)", floor=True),
        Result("PostgreSQL", "fencelock AsyncAdvisoryLock"),
    ]
    try:
        await measure(
            list(
                zip(
                    [*sync_results, *async_results],
                    [bare_cycle, sync_cycle, abare_cycle, async_cycle],
                )
            ),
            iterations,
        )
    finally:
        bare.close()
        sync_conn.close()
        await abare.close()
        await aconn.close()
    return sync_results, async_results


# ----- report ------------------------------------------------------------------------------------


def report(groups: list[list[Result]], markdown: bool) -> str:
    lines = []
    if markdown:
        lines.append("| backend | contender | p50 ms | p95 ms | p50 / floor | p95 / floor |")
        lines.append("|---|---|---|---|---|---|")
    for group in groups:
        floor = next((r for r in group if r.floor), None)
        for r in group:
            p50, p95 = r.quantile(0.5) * 1000, r.quantile(0.95) * 1000
            if floor is not None:
                ratio50 = f"{r.quantile(0.5) / floor.quantile(0.5):.2f}x"
                ratio95 = f"{r.quantile(0.95) / floor.quantile(0.95):.2f}x"
            else:
                ratio50 = ratio95 = "-"
            if markdown:
                lines.append(
                    f"| {r.backend} | {r.name} | {p50:.3f} | {p95:.3f} | {ratio50} | {ratio95} |"
                )
            else:
                lines.append(
                    f"{r.backend:<11} {r.name:<48} p50 {p50:8.3f} ms  p95 {p95:8.3f} ms"
                    f"  ({ratio50} / {ratio95} of the floor)"
                )
    return "\n".join(lines)


# ----- servers -----------------------------------------------------------------------------------


SERVERS_SH = Path(__file__).resolve().parents[2] / "conformance" / "live" / "servers.sh"


def start(command: str, directory: Path) -> dict[str, str]:
    subprocess.run(
        [str(SERVERS_SH), command, str(directory)], check=True, stdout=subprocess.DEVNULL
    )
    text = (directory / "env").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def stop(directory: Path) -> None:
    subprocess.run(
        [str(SERVERS_SH), "stop", str(directory)],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=1000, help="latency samples each")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    started: list[Path] = []
    base = Path(tempfile.mkdtemp(prefix="fencelock-bench-"))

    def server(env_key: str, command: str) -> dict[str, str]:
        if os.environ.get(env_key):
            return dict(os.environ)
        directory = base / command
        started.append(directory)
        return start(command, directory)

    try:
        etcd = server("FENCELOCK_ETCD_ENDPOINTS", "start-etcd")["FENCELOCK_ETCD_ENDPOINTS"]
        zk = server("FENCELOCK_ZK_ENDPOINTS", "start-zookeeper")["FENCELOCK_ZK_ENDPOINTS"]
        pg_port = server("FENCELOCK_PG_PORT", "start-postgres")["FENCELOCK_PG_PORT"]
        conninfo = f"host=127.0.0.1 port={pg_port} user=postgres dbname=postgres"
        print(
            f"{args.iterations} acquire + release cycles per contender, uncontended",
            file=sys.stderr,
        )

        async def run() -> list[list[Result]]:
            groups = [await bench_etcd(etcd.split(","), args.iterations)]
            groups.append(await bench_zookeeper(zk, args.iterations))
            groups.extend(await bench_postgres(conninfo, args.iterations))
            return groups

        groups = asyncio.run(run())
        print(report(groups, args.markdown))
    finally:
        for directory in started:
            stop(directory)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
