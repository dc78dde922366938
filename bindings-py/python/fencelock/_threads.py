"""The sync host's timer thread, for the leases held in the background.

Daemon threads on purpose (here and for the per-master senders): a thread blocked
on a stopped Redis master must never keep the interpreter from exiting.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import weakref
from typing import Any, Optional

from ._common import logger, now_ms

IDLE_SECONDS = 30.0
"""A sender or worker thread with nothing to do for this long exits (it starts
again on demand)."""


class Timers:
    """One daemon thread firing ``target._on_timer(at)`` at ``at`` ms (host clock).

    Targets are held weakly: a lease nobody references any more stops being
    driven (its keys then expire with their TTL).
    """

    def __init__(self) -> None:
        self._cv = threading.Condition(threading.Lock())
        self._heap: list[tuple[int, int, weakref.ref[Any]]] = []
        self._seq = itertools.count()
        self._thread: Optional[threading.Thread] = None

    def arm(self, at: int, target: weakref.ref[Any]) -> None:
        with self._cv:
            heapq.heappush(self._heap, (at, next(self._seq), target))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="fencelock-timers", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is target:
                self._cv.notify()

    def _run(self) -> None:
        cv = self._cv
        heap = self._heap
        while True:
            with cv:
                while True:
                    if not heap:
                        cv.wait()
                        continue
                    at = heap[0][0]
                    now = now_ms()
                    if at <= now:
                        _, _, ref = heapq.heappop(heap)
                        break
                    cv.wait((at - now) / 1000 + 0.0002)
            target = ref()
            if target is not None:
                try:
                    target._on_timer(at)
                except BaseException:  # pragma: no cover - targets catch their own errors
                    logger.exception("fencelock timer callback raised")


_timers: Optional[Timers] = None
_init_lock = threading.Lock()


def timers() -> Timers:
    """The process-wide timer thread."""
    global _timers
    if _timers is None:
        with _init_lock:
            if _timers is None:
                _timers = Timers()
    return _timers


def _after_fork() -> None:
    # Threads do not survive fork(): the child starts with a fresh timer thread.
    global _timers, _init_lock
    _timers = None
    _init_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
