"""Lock + release against 5 local redis-server masters, in one process and one run:

- floor: hand-written Redlock with redis.asyncio: SET NX PX on the 5 masters at once
  (asyncio.gather), quorum check, then an EVALSHA compare-and-delete on the 5 at once;
- fencelock asyncio (AsyncRedlock) and fencelock sync (Redlock), both with fencing
  tokens (an extra counter key per lock) and auto-extension on; and fencelock asyncio
  with fencing off, to show what the counter costs on the masters;
- pottery's Redlock (sync, its thread-pool fan-out);
- redis-py's Lock on a single node (no quorum at all).

Latency: one worker, lock + release back to back, the contenders taking turns every
50 cycles (so a burst of load from elsewhere hits them alike); p50 / p95 over every
sample.
Throughput: 16 workers (threads for the sync ones, tasks for the asyncio ones),
each locking its own resource, lock + release cycles per second; the median of
the rounds, whose order alternates.

Usage: python bench/bench.py [--iterations N] [--seconds S] [--rounds R] [--markdown]
Servers: FENCELOCK_REDIS_PORTS (first five = masters), else five are started with
conformance/live/servers.sh and stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import redis
import redis.asyncio
from pottery import Redlock as PotteryRedlock

from fencelock import AsyncRedlock, Redlock

TTL = 10.0
WORKERS = 16
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""

SyncCycle = Callable[[str], None]
AsyncCycle = Callable[[str], Awaitable[None]]


@dataclass
class Result:
    name: str
    latencies: list[float] = field(default_factory=list)
    ops: list[float] = field(default_factory=list)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ----- contenders ------------------------------------------------------------------------------


class Floor:
    """Redlock by hand: the least any asyncio Redlock over redis-py must do."""

    def __init__(self, ports: list[int]) -> None:
        self.clients = [redis.asyncio.Redis(port=p) for p in ports]
        self.quorum = len(ports) // 2 + 1
        self.sha = ""

    async def setup(self) -> None:
        for c in self.clients:
            self.sha = await c.script_load(RELEASE)

    async def cycle(self, name: str) -> None:
        value = os.urandom(16).hex()
        key = f"floor:{name}"
        granted = await asyncio.gather(
            *(c.set(key, value, nx=True, px=int(TTL * 1000)) for c in self.clients)
        )
        assert sum(1 for g in granted if g) >= self.quorum
        await asyncio.gather(*(c.evalsha(self.sha, 1, key, value) for c in self.clients))


def fencelock_async(
    ports: list[int], fencing: bool = True
) -> tuple[Callable[[], Awaitable[None]], AsyncCycle]:
    redlock = AsyncRedlock([redis.asyncio.Redis(port=p) for p in ports], ttl=TTL, fencing=fencing)

    async def setup() -> None:
        pass

    async def cycle(name: str) -> None:
        lease = await redlock(name).acquire()
        await lease.release()

    return setup, cycle


def fencelock_sync(ports: list[int]) -> SyncCycle:
    redlock = Redlock([redis.Redis(port=p) for p in ports], ttl=TTL)

    def cycle(name: str) -> None:
        redlock(name).acquire().release()

    return cycle


def pottery(ports: list[int]) -> SyncCycle:
    masters = {redis.Redis(port=p) for p in ports}

    def cycle(name: str) -> None:
        lock = PotteryRedlock(key=f"pottery:{name}", masters=masters, auto_release_time=TTL)
        assert lock.acquire()
        lock.release()

    return cycle


def redis_py_lock(ports: list[int]) -> SyncCycle:
    client = redis.Redis(port=ports[0])

    def cycle(name: str) -> None:
        lock = client.lock(f"redispy:{name}", timeout=TTL, thread_local=False)
        assert lock.acquire(blocking=False)
        lock.release()

    return cycle


# ----- measuring -------------------------------------------------------------------------------


BLOCK = 50
"""Latency cycles each contender runs back to back before the next one's turn."""


async def latency(
    async_contenders: dict[str, AsyncCycle],
    sync_contenders: dict[str, SyncCycle],
    iterations: int,
    results: dict[str, Result],
) -> None:
    """Lock + release in blocks of :data:`BLOCK` back-to-back cycles, the contenders
    taking turns block by block, so a burst of load from elsewhere on the machine
    hits them alike. Between blocks, a short pause lets the replies still in flight
    (a quorum answers first) land outside every timed window."""
    for _ in range(max(1, iterations // BLOCK)):
        for name, acycle in async_contenders.items():
            for _ in range(BLOCK):
                t0 = time.perf_counter()
                await acycle("latency")
                results[name].latencies.append(time.perf_counter() - t0)
            await asyncio.sleep(0.005)
        for name, scycle in sync_contenders.items():
            for _ in range(BLOCK):
                t0 = time.perf_counter()
                scycle("latency")
                results[name].latencies.append(time.perf_counter() - t0)
            await asyncio.sleep(0.005)


def sync_throughput(cycle: SyncCycle, seconds: float) -> float:
    stop = time.perf_counter() + seconds
    counts = [0] * WORKERS

    def worker(i: int) -> None:
        name = f"tp-{i}"
        while time.perf_counter() < stop:
            cycle(name)
            counts[i] += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


async def async_throughput(cycle: AsyncCycle, seconds: float) -> float:
    stop = time.perf_counter() + seconds
    counts = [0] * WORKERS

    async def worker(i: int) -> None:
        name = f"tp-{i}"
        while time.perf_counter() < stop:
            await cycle(name)
            counts[i] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(WORKERS)))
    return sum(counts) / (time.perf_counter() - t0)


def bench(ports: list[int], iterations: int, seconds: float, rounds: int) -> list[Result]:
    loop = asyncio.new_event_loop()
    floor = Floor(ports)
    loop.run_until_complete(floor.setup())
    fl_setup, fl_async = fencelock_async(ports)
    nf_setup, nf_async = fencelock_async(ports, fencing=False)

    async def make_async() -> None:
        await fl_setup()
        await nf_setup()

    loop.run_until_complete(make_async())
    sync_contenders: dict[str, SyncCycle] = {
        "fencelock sync": fencelock_sync(ports),
        "pottery Redlock": pottery(ports),
        "redis-py Lock (1 node)": redis_py_lock(ports),
    }
    async_contenders: dict[str, AsyncCycle] = {
        "floor (redis.asyncio)": floor.cycle,
        "fencelock asyncio": fl_async,
        "fencelock asyncio, fencing off": nf_async,
    }
    names = list(async_contenders) + list(sync_contenders)
    results = {name: Result(name) for name in names}
    warm: dict[str, Result] = {name: Result(name) for name in names}
    loop.run_until_complete(latency(async_contenders, sync_contenders, 2 * BLOCK, warm))
    for r in range(rounds):
        loop.run_until_complete(
            latency(async_contenders, sync_contenders, iterations // rounds, results)
        )
        order = names if r % 2 == 0 else list(reversed(names))
        for name in order:
            if name in async_contenders:
                ops = loop.run_until_complete(async_throughput(async_contenders[name], seconds))
            else:
                ops = sync_throughput(sync_contenders[name], seconds)
            results[name].ops.append(ops)
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)

    # Let the last commands to slow masters finish, then asyncio.run's shutdown by hand.
    async def shutdown() -> None:
        await asyncio.sleep(0.2)
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    loop.run_until_complete(shutdown())
    loop.close()
    return [results[n] for n in names]


def report(results: list[Result], markdown: bool) -> str:
    floor = results[0]
    by_name = {r.name: r for r in results}
    f50, f95 = floor.quantile(0.5), floor.quantile(0.95)
    fops = sorted(floor.ops)[len(floor.ops) // 2]
    rows = []
    for r in results:
        ops = sorted(r.ops)[len(r.ops) // 2]
        rows.append(
            (
                r.name,
                f"{r.quantile(0.5) * 1e3:.3f}",
                f"{r.quantile(0.95) * 1e3:.3f}",
                f"{r.quantile(0.5) / f50:.2f}x",
                f"{r.quantile(0.95) / f95:.2f}x",
                f"{ops:,.0f}",
                f"{ops / fops:.2f}x",
            )
        )
    head = (
        "contender",
        "p50 ms",
        "p95 ms",
        "p50 / floor",
        "p95 / floor",
        "ops/s (16)",
        "ops / floor",
    )
    lines = []
    if markdown:
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join("---" for _ in head) + "|")
        lines.extend("| " + " | ".join(row) + " |" for row in rows)
    else:
        widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
        for row in (head, *rows):
            lines.append("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))
    pottery_ops = sorted(by_name["pottery Redlock"].ops)[len(by_name["pottery Redlock"].ops) // 2]
    lines.append("")
    for name in ("fencelock asyncio", "fencelock sync"):
        r = by_name[name]
        ops = sorted(r.ops)[len(r.ops) // 2]
        lines.append(
            f"{name}: p50 {r.quantile(0.5) / f50:.2f}x the floor (target <= 1.10x), "
            f"throughput {ops / pottery_ops:.1f}x pottery's (target >= 2x)"
        )
    return "\n".join(lines)


def start_masters(directory: Path) -> list[int]:
    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [str(root / "conformance/live/servers.sh"), "start-redis", "5", str(directory)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    env = dict(line.split("=", 1) for line in (directory / "env").read_text().splitlines())
    return [int(p) for p in env["FENCELOCK_REDIS_PORTS"].split(",")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=3000, help="latency samples each")
    parser.add_argument("--seconds", type=float, default=2.0, help="throughput run, each round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    directory = None
    if os.environ.get("FENCELOCK_REDIS_PORTS"):
        ports = [int(p) for p in os.environ["FENCELOCK_REDIS_PORTS"].split(",")][:5]
    else:
        directory = Path(tempfile.mkdtemp(prefix="fencelock-bench-"))
        ports = start_masters(directory)
    try:
        print(f"5 masters on ports {ports}; {args.rounds} rounds", file=sys.stderr)
        results = bench(ports, args.iterations, args.seconds, args.rounds)
        print(report(results, args.markdown))
    finally:
        if directory is not None:
            root = Path(__file__).resolve().parents[2]
            subprocess.run(
                [str(root / "conformance/live/servers.sh"), "stop", str(directory)],
                check=False,
                stdout=subprocess.DEVNULL,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
