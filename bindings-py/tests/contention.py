"""Workers contending for one lock that protects a fenced counter (test helper).

Each holder reads the counter, adds one and writes it back through the
resource's fence with its token. The run records ``(counter written, token)``
for every write; sorted by counter value that is the global order of holders,
across threads, tasks and processes alike. The lock held when:

- no two holders were ever inside at once (checked in process),
- every counter value 1..N was written exactly once (no lost update),
- tokens strictly increase in counter order,
- no write was rejected as stale.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Callable

from fencelock import (
    AsyncRedisFenceGuard,
    AsyncRedlock,
    FenceGuard,
    LockNotAcquired,
    RedisFenceGuard,
    Redlock,
)


@dataclass
class Run:
    target: int
    limit: float = 120.0
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    holder: str | None = None
    overlaps: int = 0
    reserved: int = 0
    writes: list[tuple[int, int]] = field(default_factory=list)
    stale: int = 0
    not_acquired: int = 0
    errors: list[str] = field(default_factory=list)

    def more(self) -> bool:
        return self.reserved < self.target and time.monotonic() - self.started < self.limit

    def enter(self, who: str) -> bool:
        """Marks ``who`` inside; returns whether it should write (target not reached)."""
        with self._lock:
            if self.holder is not None:
                self.overlaps += 1
            self.holder = who
            if self.reserved < self.target:
                self.reserved += 1
                return True
            return False

    def leave(self, who: str) -> None:
        with self._lock:
            if self.holder == who:
                self.holder = None

    def wrote(self, counter: int, token: int, admitted: bool) -> None:
        with self._lock:
            if admitted:
                self.writes.append((counter, token))
            else:
                self.stale += 1

    def check(self) -> None:
        assert not self.errors, self.errors
        assert self.overlaps == 0, f"{self.overlaps} overlapping holders"
        assert self.stale == 0, f"{self.stale} stale writes rejected"
        ordered = sorted(self.writes)
        counters = [c for c, _ in ordered]
        assert counters == list(range(1, self.target + 1)), "lost or duplicated update"
        tokens = [t for _, t in ordered]
        assert all(a < b for a, b in zip(tokens, tokens[1:])), "tokens not strictly increasing"


def sync_worker(run: Run, redlock: Redlock, name: str, guard: RedisFenceGuard, who: str) -> None:
    try:
        while run.more():
            try:
                lease = redlock(name, timeout=10.0).acquire()
            except LockNotAcquired:
                run.not_acquired += 1
                continue
            try:
                if run.enter(who):
                    token = lease.fencing_token
                    assert token is not None
                    counter = int(guard.read() or 0) + 1
                    run.wrote(counter, token, guard.write(token, counter))
                run.leave(who)
            finally:
                lease.release()
            time.sleep(0.002)
    except Exception as e:  # reported by Run.check
        run.errors.append(f"{who}: {e!r}")


async def async_worker(
    run: Run, redlock: AsyncRedlock, name: str, guard: AsyncRedisFenceGuard, who: str
) -> None:
    try:
        while run.more():
            try:
                lease = await redlock(name, timeout=10.0).acquire()
            except LockNotAcquired:
                run.not_acquired += 1
                continue
            try:
                if run.enter(who):
                    token = lease.fencing_token
                    assert token is not None
                    counter = int(await guard.read() or 0) + 1
                    run.wrote(counter, token, await guard.write(token, counter))
                run.leave(who)
            finally:
                await lease.release()
            await asyncio.sleep(0.002)
    except Exception as e:
        run.errors.append(f"{who}: {e!r}")


def run_threads(run: Run, count: int, make: Any) -> list[threading.Thread]:
    """Starts ``count`` threads running ``make(i)`` (a zero-argument callable)."""
    threads = [threading.Thread(target=make(i), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    return threads


def run_loop_in_thread(coro_factory: Any) -> threading.Thread:
    """Runs ``asyncio.run(coro_factory())`` on its own thread."""
    thread = threading.Thread(target=lambda: asyncio.run(coro_factory()), daemon=True)
    thread.start()
    return thread


# ----- the etcd, ZooKeeper and PostgreSQL locks ---------------------------------------------


class MemoryCounter:
    """A counter in memory behind the core's ``FenceGuard``: a write is admitted only
    with a token at least the highest admitted so far."""

    def __init__(self) -> None:
        self.guard = FenceGuard()
        self.value = 0
        self.lock = threading.Lock()

    def read(self) -> int:
        with self.lock:
            return self.value

    def write(self, token: int, value: int) -> bool:
        with self.lock:
            if not self.guard.admit(token):
                return False
            self.value = value
            return True


def hold_worker(
    run: Run,
    acquire: Callable[[], Any],
    counter: Any,
    who: str,
    *,
    hold: float = 0.0,
    margin: float = 0.0,
) -> None:
    """Acquires, increments ``counter`` through its fence with the lease's token,
    releases; until the run has its writes (or its time is up). A holder whose
    lease is lost or has less than ``margin`` seconds left does not write."""
    try:
        while run.more():
            try:
                lease = acquire()
            except LockNotAcquired:
                run.not_acquired += 1
                continue
            try:
                if lease.remaining() > margin and not lease.lost.is_set():
                    if run.enter(who):
                        value = counter.read() + 1
                        if hold:
                            time.sleep(hold)
                        token = lease.fencing_token
                        run.wrote(value, token, counter.write(token, value))
                    run.leave(who)
            finally:
                lease.release()
    except Exception as e:  # reported by Run.check
        run.errors.append(f"{who}: {e!r}")


async def async_hold_worker(
    run: Run, acquire: Callable[[], Awaitable[Any]], counter: Any, who: str, *, hold: float = 0.0
) -> None:
    """:func:`hold_worker` for asyncio leases (``counter`` is an in-memory one)."""
    try:
        while run.more():
            try:
                lease = await acquire()
            except LockNotAcquired:
                run.not_acquired += 1
                continue
            try:
                if lease.remaining() > 0 and not lease.lost.is_set():
                    if run.enter(who):
                        value = counter.read() + 1
                        if hold:
                            await asyncio.sleep(hold)
                        token = lease.fencing_token
                        run.wrote(value, token, counter.write(token, value))
                    run.leave(who)
            finally:
                await lease.release()
    except Exception as e:
        run.errors.append(f"{who}: {e!r}")
