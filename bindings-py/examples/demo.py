"""Python workers for the contention demo: sync threads and asyncio tasks contend
for one Redlock lock (five masters) that protects a fenced counter in a sixth
Redis. Each holder reads the counter, adds one and writes it back with its
fencing token, exactly as the Rust demo's workers do, so both can run at once on
the same lock and counter.

    demo.py [--lock NAME] [--threads N] [--tasks N] [--acquisitions N] [--log PATH]
    demo.py --check LOG [LOG ...]

The first form runs workers and writes one ``counter token`` line per write to
``--log``. ``--check`` merges the logs of every process of a run and checks the
invariant across all of them: every counter value 1..N written exactly once (no
lost update, so no two holders overlapped), tokens strictly increasing in counter
order, and the resource's final counter equal to N.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
from dataclasses import dataclass, field

import redis
import redis.asyncio

from fencelock import (
    AsyncRedisFenceGuard,
    AsyncRedlock,
    LockNotAcquired,
    RedisFenceGuard,
    Redlock,
    Retry,
)

from _ports import masters, resource

RUN_LIMIT = 120.0
RETRY = Retry.exponential(0.01, 0.2, jitter=0.01, max_attempts=None)


@dataclass
class Shared:
    target: int
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    inside: bool = False
    overlaps: int = 0
    done: int = 0
    stale: int = 0
    writes: list[tuple[int, int]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def more(self) -> bool:
        return self.done < self.target and time.monotonic() - self.started < RUN_LIMIT

    def enter(self) -> bool:
        with self.lock:
            if self.inside:
                self.overlaps += 1
            self.inside = True
            return self.done < self.target

    def leave(self, counter: int, token: int, admitted: bool, latency: float, who: str) -> None:
        with self.lock:
            self.inside = False
            if admitted:
                self.writes.append((counter, token))
                self.latencies.append(latency)
                self.done += 1
                n = self.done
            else:
                self.stale += 1
                n = -1
        if admitted:
            print(f"py #{n:<4} {who:<9} token {token:<6} acquired in {latency * 1e3:.2f} ms")
        else:
            print(f"py {who}: STALE write with token {token} rejected")

    def skip(self) -> None:
        with self.lock:
            self.inside = False


def thread_worker(shared: Shared, redlock: Redlock, name: str, who: str) -> None:
    guard = RedisFenceGuard(redis.Redis(port=resource()), f"{name}-counter")
    try:
        while shared.more():
            t0 = time.perf_counter()
            try:
                lease = redlock(name, timeout=10.0).acquire()
            except LockNotAcquired:
                continue
            latency = time.perf_counter() - t0
            try:
                token = lease.fencing_token
                assert token is not None
                if shared.enter():
                    counter = int(guard.read() or 0) + 1
                    shared.leave(counter, token, guard.write(token, counter), latency, who)
                else:
                    shared.skip()
            finally:
                lease.release()
            time.sleep(0.003)  # other work between two jobs
    except Exception as e:
        shared.errors.append(f"{who}: {e!r}")


async def task_worker(shared: Shared, redlock: AsyncRedlock, name: str, who: str) -> None:
    guard = AsyncRedisFenceGuard(redis.asyncio.Redis(port=resource()), f"{name}-counter")
    try:
        while shared.more():
            t0 = time.perf_counter()
            try:
                lease = await redlock(name, timeout=10.0).acquire()
            except LockNotAcquired:
                continue
            latency = time.perf_counter() - t0
            try:
                token = lease.fencing_token
                assert token is not None
                if shared.enter():
                    counter = int(await guard.read() or 0) + 1
                    admitted = await guard.write(token, counter)
                    shared.leave(counter, token, admitted, latency, who)
                else:
                    shared.skip()
            finally:
                await lease.release()
            await asyncio.sleep(0.003)
    except Exception as e:
        shared.errors.append(f"{who}: {e!r}")


async def tasks_main(shared: Shared, name: str, tasks: int) -> None:
    redlock = AsyncRedlock([redis.asyncio.Redis(port=p) for p in masters()], ttl=2.0, retry=RETRY)
    await asyncio.gather(*(task_worker(shared, redlock, name, f"task {i}") for i in range(tasks)))


def run(args: argparse.Namespace) -> int:
    name = args.lock or f"demo-py-{os.urandom(3).hex()}"
    shared = Shared(args.acquisitions)
    print(
        f"python demo: {args.threads} threads + {args.tasks} asyncio tasks, "
        f"{args.acquisitions} acquisitions, lock {name!r} on masters {masters()}"
    )
    redlock = Redlock([redis.Redis(port=p) for p in masters()], ttl=2.0, retry=RETRY)
    threads = [
        threading.Thread(target=thread_worker, args=(shared, redlock, name, f"thread {i}"))
        for i in range(args.threads)
    ]
    if args.tasks:
        threads.append(
            threading.Thread(target=lambda: asyncio.run(tasks_main(shared, name, args.tasks)))
        )
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if args.log:
        with open(args.log, "w", encoding="utf-8") as log:
            log.writelines(f"{c} {t}\n" for c, t in shared.writes)
    latencies = sorted(shared.latencies)

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3 if latencies else 0

    tokens = [t for _, t in sorted(shared.writes)]
    increasing = all(a < b for a, b in zip(tokens, tokens[1:]))
    print(f"--- python summary ({time.monotonic() - shared.started:.1f} s) ---")
    print(f"acquisitions: {len(shared.writes)}")
    print(f"acquire latency: p50 {pct(0.5):.2f} ms, p95 {pct(0.95):.2f} ms")
    print(f"overlapping holders (in process): {shared.overlaps}")
    print(f"tokens strictly increasing: {increasing}")
    print(f"stale writes rejected: {shared.stale} (expected 0)")
    for e in shared.errors:
        print(f"error: {e}")
    ok = (
        not shared.errors
        and len(shared.writes) == args.acquisitions
        and shared.overlaps == 0
        and shared.stale == 0
        and increasing
    )
    print("python workers: invariant held" if ok else "python workers: INVARIANT BROKEN")
    return 0 if ok else 1


def check(paths: list[str], name: str) -> int:
    writes: list[tuple[int, int]] = []
    for path in paths:
        with open(path, encoding="utf-8") as log:
            for line in log:
                counter, token = line.split()
                writes.append((int(counter), int(token)))
    writes.sort()
    counters = [c for c, _ in writes]
    tokens = [t for _, t in writes]
    every_once = counters == list(range(1, len(writes) + 1))
    increasing = all(a < b for a, b in zip(tokens, tokens[1:]))
    final = RedisFenceGuard(redis.Redis(port=resource()), f"{name}-counter").read()
    final_counter = int(final or 0)
    print(f"--- across {len(paths)} processes ---")
    print(f"writes: {len(writes)}; every counter value written exactly once: {every_once}")
    print(f"tokens strictly increasing in write order: {increasing}")
    print(f"final counter: {final_counter} == writes {len(writes)}: {final_counter == len(writes)}")
    ok = every_once and increasing and final_counter == len(writes)
    print("invariant held across languages" if ok else "INVARIANT BROKEN ACROSS LANGUAGES")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lock", help="lock name (the counter is NAME-counter)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--acquisitions", type=int, default=100)
    parser.add_argument("--log", help="write one 'counter token' line per write here")
    parser.add_argument("--check", nargs="+", metavar="LOG", help="check the logs of a run")
    args = parser.parse_args()
    if args.check:
        if not args.lock:
            parser.error("--check needs --lock")
        return check(args.check, args.lock)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
