"""The drive loops of the etcd, ZooKeeper and PostgreSQL hosts, sync and asyncio.

A driver runs one core machine with one host (the backend's client): it applies
an input, hands every command to the host (which performs it without blocking and
later posts the reply back), turns events into the lease's state, and keeps the
machine's timer. Whether an operation finished, and how, is read from the
machine's events; nothing here decides anything about the lock.

- Sync: inputs are applied under the driver's lock, from whichever thread has
  one (the caller, a host's worker or callback thread, the timer thread). The
  caller waiting for an outcome runs the machine's timers; otherwise one
  process-wide timer thread does (``_threads``), so keep-alives and checks go on
  while a lock is held.
- asyncio: inputs are applied on the event loop; replies from other threads
  (kazoo's) are handed over with ``call_soon_threadsafe``; timers are loop timers.

A machine nobody references any more stops being driven (timers hold drivers
weakly), as with Redlock.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import queue
import threading
import weakref
from types import TracebackType
from typing import Any, Callable, Generic, Optional, Protocol, TypeVar

from . import _threads
from ._common import lease_lost, logger, not_held, now_ms, optional_seconds_to_ms
from .aio import _timers
from .errors import (
    INTERNAL,
    INVALID_STATE,
    FencelockError,
    InternalError,
    UsageError,
)

Step = tuple[list[Any], list[dict[str, Any]], str, Optional[int]]
"""``(commands, events, state, timeout)``, what every fast-path call returns."""

MakeStep = Callable[[int], Step]
"""Applies one input at ``now`` (ms) and returns the step."""

TERMINAL = frozenset(("released", "failed", "done"))
"""Machine states after which nothing more happens (late replies are accepted)."""

ACQUIRE_DONE = frozenset(("acquired", "acquire_failed"))
RELEASE_DONE = frozenset(("released", "acquire_failed"))

_UNSET: Any = object()

Observe = Callable[[tuple[str, ...], dict[str, Any]], None]


def step_fns(m: Any) -> tuple[MakeStep, MakeStep]:
    """The timer and release inputs of a generic (dict-input) machine."""

    def tick(now: int) -> Step:
        result: Step = m._step({"type": "timeout", "now": now})
        return result

    def release(now: int) -> Step:
        result: Step = m._step({"type": "release", "now": now})
        return result

    return tick, release


def reply_step(m: Any, req: int, result: dict[str, Any]) -> MakeStep:
    """A generic machine's reply input for request ``req``, applied at ``now``."""

    def make(now: int) -> Step:
        step: Step = m._step({"type": "reply", "now": now, "req": req, "result": result})
        return step

    return make


class Host(Protocol):
    """A backend's client as a driver sees it."""

    def perform(self, driver: Any, command: Any) -> None:
        """Starts one command without blocking; its reply is posted to ``driver``
        later (``driver.post``), from any thread."""

    def poll(self, driver: Any) -> Optional[MakeStep]:
        """An input the host has for the machine before a timer input (a session
        it saw close), or ``None``."""

    def finished(self, driver: Any) -> None:
        """The machine reached a terminal state (called once)."""


def fire(driver: Any, deliver: Optional[Callable[[MakeStep], None]] = None) -> None:
    """Delivers what is due to ``driver``'s machine: the host's input first (a
    session it saw close), then the timer input. Each goes through ``deliver``
    (a driver's quiet method); by default it is applied now and a refusal raised."""
    if deliver is None:

        def deliver(make: MakeStep) -> None:
            driver.apply(make(now_ms()))

    polled = driver.host.poll(driver)
    if polled is not None:
        deliver(polled)
    deliver(driver.tick_fn)


# ----- sync ------------------------------------------------------------------------------


class SyncDriver:
    """Drives one machine for a sync host (thread-safe)."""

    __slots__ = (
        "__weakref__",
        "armed",
        "deadline",
        "deferred",
        "done",
        "host",
        "host_state",
        "lock",
        "lost",
        "lost_reason",
        "m",
        "name",
        "observe",
        "on_event",
        "op_lock",
        "outcome",
        "ref",
        "release_fn",
        "state",
        "tick_fn",
        "wake",
        "want",
    )

    def __init__(
        self,
        machine: Any,
        host: Host,
        name: str,
        observe: Observe,
        tick_fn: Callable[[int], Step],
        release_fn: Callable[[int], Step],
    ) -> None:
        self.m = machine
        self.host = host
        self.name = name
        self.observe = observe
        self.tick_fn = tick_fn
        self.release_fn = release_fn
        self.on_event: Optional[Callable[[dict[str, Any]], None]] = None
        self.host_state: Any = None
        self.lock = threading.Lock()
        self.wake: queue.SimpleQueue[None] = queue.SimpleQueue()
        self.op_lock = threading.Lock()
        self.want: Optional[frozenset[str]] = None
        self.outcome: Optional[dict[str, Any]] = None
        self.deadline: Optional[int] = None
        self.armed: Optional[int] = None
        self.state: str = machine.state
        self.done = False
        self.lost = threading.Event()
        self.lost_reason: Optional[str] = None
        self.deferred: list[MakeStep] = []
        self.ref = weakref.ref(self)

    # ----- under self.lock -------------------------------------------------------------

    def apply(self, step: Step) -> None:
        commands, events, state, timeout = step
        self.state = state
        if timeout != self.deadline:
            self.deadline = timeout
            if self.want is not None:
                self.wake.put(None)  # the waiting caller re-arms its timer
        host = self.host
        for command in commands:
            host.perform(self, command)
        for event in events:
            kind = event["type"]
            if kind == "lost":
                self.lost_reason = event["reason"]
                self.lost.set()
            self.observe((self.name,), event)
            if self.on_event is not None:
                self.on_event(event)
            want = self.want
            if want is not None and kind in want:
                self.outcome = event
                self.want = None
                self.wake.put(None)
        if not self.done and state in TERMINAL:
            self.done = True
            host.finished(self)
        if self.want is None and timeout is not None and timeout != self.armed:
            self.armed = timeout
            _threads.timers().arm(timeout, self.ref)
        while self.deferred:
            make = self.deferred.pop(0)
            self.apply(make(now_ms()))

    def defer(self, make: MakeStep) -> None:
        """An input to apply once the current step is done (a host that failed a
        command at once, under the lock)."""
        self.deferred.append(make)

    def apply_quietly(self, make: MakeStep) -> None:
        """Applies a background input; a refusal would be a host bug, so it is
        logged, never raised into a worker, callback or timer thread."""
        try:
            self.apply(make(now_ms()))
        except FencelockError as e:
            logger.error("fencelock host bug: machine %s refused an input: %s", self.name, e)
        except Exception:
            logger.exception("fencelock host bug while driving %s", self.name)

    # ----- other threads ---------------------------------------------------------------

    def post(self, make: MakeStep) -> None:
        """Applies ``make(now)`` (a reply, a watch, a session change) from any thread;
        ``now`` is read under the lock, so inputs never go back in time."""
        with self.lock:
            self.apply_quietly(make)

    def post_optional(self, make: Callable[[int], Optional[Step]]) -> bool:
        """Like :meth:`post` for an input that may turn out to be none (a watch line
        that does not answer); returns whether a step was applied."""
        with self.lock:
            try:
                step = make(now_ms())
                if step is None:
                    return False
                self.apply(step)
            except FencelockError as e:
                logger.error("fencelock host bug: machine %s refused an input: %s", self.name, e)
            except Exception:
                logger.exception("fencelock host bug while driving %s", self.name)
            return True

    def _on_timer(self, at: int) -> None:
        with self.lock:
            if at == self.armed:
                self.armed = None
            if self.want is not None or self.deadline != at:
                return  # a caller is driving, or the deadline moved
            fire(self, self.apply_quietly)

    # ----- callers ---------------------------------------------------------------------

    def run(self, first: MakeStep, want: frozenset[str]) -> dict[str, Any]:
        """Applies ``first(now)`` and drives until an event in ``want`` (the
        operation's outcome, as the machine reports it)."""
        lock = self.lock
        with self.op_lock:
            try:
                with lock:
                    self.want = want
                    self.outcome = None
                    self.apply(first(now_ms()))
                while True:
                    with lock:
                        outcome = self.outcome
                        if outcome is not None:
                            self.outcome = None
                            return outcome
                        deadline = self.deadline
                        if deadline is None:
                            waiting = ", ".join(sorted(want))
                            stalled = (
                                f"machine stalled in state {self.state} (waiting for {waiting})"
                            )
                            raise InternalError(INTERNAL, stalled)
                        now = now_ms()
                        if deadline <= now:
                            fire(self)
                            continue
                    # Woken when the outcome arrives or the deadline moves.
                    with contextlib.suppress(queue.Empty):
                        self.wake.get(timeout=(deadline - now) / 1000 + 0.0002)
            finally:
                with lock:
                    if self.want is not None:  # interrupted: back to the background
                        self.want = None
                        if self.deadline is not None and self.deadline != self.armed:
                            self.armed = self.deadline
                            _threads.timers().arm(self.deadline, self.ref)

    def tick(self) -> None:
        """Delivers the current time, so every deadline due now has fired."""
        with self.lock:
            fire(self)

    def cancel(self) -> None:
        """An interrupted acquisition: the machine cancels (or, once acquired,
        releases) and cleans up in the background."""
        with contextlib.suppress(FencelockError), self.lock:
            if self.state not in TERMINAL and self.state != "releasing":
                self.apply(self.release_fn(now_ms()))


def acquire_sync(driver: SyncDriver, first: MakeStep, want: frozenset[str]) -> dict[str, Any]:
    """Drives a fresh machine until its acquisition outcome (an event in
    ``want``); an interrupted caller (KeyboardInterrupt, ...) cancels it."""
    try:
        return driver.run(first, want)
    except BaseException:
        driver.cancel()
        raise


class SyncLease:
    """What every sync lease of the etcd, ZooKeeper and PostgreSQL backends has:
    the fencing token, validity, whether it was lost, and release."""

    __slots__ = ("__weakref__", "_d", "acquired_at", "fencing_token", "info", "name", "stats")

    def __init__(self, driver: SyncDriver, event: dict[str, Any]) -> None:
        self._d = driver
        lock = event["lock"]
        self.name: str = driver.name
        """The lock's name (etcd, PostgreSQL) or path (ZooKeeper)."""
        self.info: dict[str, Any] = dict(lock)
        """The core's ``lock`` as the ``acquired`` event gave it (64-bit ids as
        decimal strings, times in ms)."""
        self.fencing_token: int = int(lock["token"])
        """Pass it with every write to the protected resource."""
        self.acquired_at: float = lock["acquired_at"] / 1000
        """When the lock was acquired, on the ``time.monotonic()`` clock (seconds)."""
        self.stats: dict[str, Any] = dict(event["stats"])
        """How the acquisition went, as the core reports it (``latency`` in ms)."""

    @property
    def valid_until(self) -> float:
        """End of validity on the ``time.monotonic()`` clock (seconds); moves on
        with every renewal. ``math.inf`` for a lock without a time limit."""
        d = self._d
        with d.lock:
            at = d.m._valid_until()
        return math.inf if at is None else at / 1000

    @property
    def lost(self) -> threading.Event:
        """Set when the lock is lost."""
        return self._d.lost

    @property
    def lost_reason(self) -> Optional[str]:
        """Why the lock was lost (the core's reason), else ``None``."""
        return self._d.lost_reason

    @property
    def state(self) -> str:
        """The machine's state (``held``, ``lost``, ``releasing``, ``released``, and
        ``uncertain`` for ZooKeeper and PostgreSQL, ``proclaiming`` for etcd
        elections)."""
        return self._d.state

    def remaining(self) -> float:
        """Validity left now, in seconds: zero unless held (an ``uncertain`` lock
        has none), ``math.inf`` while a lock without a time limit is held. Reads the
        clock only, no round trip."""
        d = self._d
        with d.lock:
            left = d.m._remaining(now_ms())
            state = d.state
        if left is None:
            return math.inf if state == "held" else 0.0
        return float(left) / 1000

    def check(self) -> None:
        """Raises :class:`LockLost` if the lock is lost (checked against the clock
        now), :class:`UsageError` if it was released."""
        d = self._d
        d.tick()
        if d.lost_reason is not None:
            raise lease_lost(self.name, d.lost_reason)
        if d.state in ("releasing", "released"):
            raise UsageError(INVALID_STATE, "the lock was released")

    def release(self) -> str:
        """Releases the lock and returns how it ended (the core's ``released``
        outcome). Releasing a lost lock is not an error; releasing twice is
        (:class:`UsageError` ``INVALID_STATE``)."""
        d = self._d
        outcome = d.run(d.release_fn, RELEASE_DONE)
        return str(outcome.get("outcome", "released"))

    @property
    def released(self) -> bool:
        """Whether a release has started or finished."""
        return self._d.state in ("releasing", "released")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} token={self.fencing_token} state={self.state}>"


L = TypeVar("L", bound=SyncLease)


class NamedLock(Generic[L]):
    """One name of a lock object: a context manager, or :meth:`acquire` /
    :meth:`release` by hand. Holds one lease at a time; share the lock object,
    not the ``NamedLock``, between threads."""

    __slots__ = ("_acquire", "_lease", "_timeout", "name")

    def __init__(
        self, acquire: Callable[[Optional[int]], L], name: str, timeout: Optional[int]
    ) -> None:
        self._acquire = acquire
        self.name = name
        self._timeout = timeout
        self._lease: Optional[L] = None

    @property
    def lease(self) -> Optional[L]:
        """The current lease, if acquired and not yet released."""
        return self._lease

    def acquire(self, timeout: Optional[float] = _UNSET) -> L:
        """Acquires the lock within ``timeout`` seconds (default: the one given when
        the ``NamedLock`` was made; ``None``: wait as long as it takes)."""
        if self._lease is not None and not self._lease.released:
            raise not_held("this lock already holds a lease; release it first")
        ms = self._timeout if timeout is _UNSET else optional_seconds_to_ms(timeout, "timeout")
        self._lease = self._acquire(ms)
        return self._lease

    def release(self) -> str:
        """Releases the current lease."""
        if self._lease is None:
            raise not_held("release: this lock holds no lease")
        return self._lease.release()

    def __enter__(self) -> L:
        return self.acquire()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        lease = self._lease
        if lease is not None and not lease.released:
            try:
                lease.release()
            except FencelockError:
                if exc is None:
                    raise
                logger.exception("fencelock: release after an error failed")


# ----- asyncio ---------------------------------------------------------------------------


class AsyncDriver:
    """Drives one machine for an asyncio host, on one event loop."""

    __slots__ = (
        "__weakref__",
        "armed",
        "deadline",
        "deferred",
        "done",
        "host",
        "host_state",
        "loop",
        "lost_event",
        "lost_reason",
        "m",
        "name",
        "observe",
        "on_event",
        "ref",
        "release_fn",
        "state",
        "thread",
        "tick_fn",
        "timers",
        "waiter",
        "want",
    )

    def __init__(
        self,
        machine: Any,
        host: Host,
        name: str,
        observe: Observe,
        tick_fn: Callable[[int], Step],
        release_fn: Callable[[int], Step],
    ) -> None:
        self.m = machine
        self.host = host
        self.name = name
        self.observe = observe
        self.tick_fn = tick_fn
        self.release_fn = release_fn
        self.on_event: Optional[Callable[[dict[str, Any]], None]] = None
        self.host_state: Any = None
        self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()
        self.timers = _timers(self.loop)
        self.want: Optional[frozenset[str]] = None
        self.waiter: Optional[asyncio.Future[dict[str, Any]]] = None
        self.deadline: Optional[int] = None
        self.armed: Optional[int] = None
        self.state: str = machine.state
        self.done = False
        self.lost_event: Optional[asyncio.Event] = None  # made on first use
        self.lost_reason: Optional[str] = None
        self.deferred: list[MakeStep] = []
        self.ref = weakref.ref(self)

    @property
    def lost(self) -> asyncio.Event:
        if self.lost_event is None:
            self.lost_event = asyncio.Event()
            if self.lost_reason is not None:
                self.lost_event.set()
        return self.lost_event

    def apply(self, step: Step) -> None:
        commands, events, state, timeout = step
        self.state = state
        self.deadline = timeout
        host = self.host
        for command in commands:
            host.perform(self, command)
        for event in events:
            kind = event["type"]
            if kind == "lost":
                self.lost_reason = event["reason"]
                if self.lost_event is not None:
                    self.lost_event.set()
            self.observe((self.name,), event)
            if self.on_event is not None:
                self.on_event(event)
            want = self.want
            if want is not None and kind in want:
                self.want = None
                waiter = self.waiter
                self.waiter = None
                if waiter is not None and not waiter.done():
                    waiter.set_result(event)
        if not self.done and state in TERMINAL:
            self.done = True
            host.finished(self)
        if timeout is None and self.want is not None:
            waiter = self.waiter
            self.want = None
            self.waiter = None
            if waiter is not None and not waiter.done():
                stalled = f"machine stalled in state {state} (nothing in flight, no timer)"
                waiter.set_exception(InternalError(INTERNAL, stalled))
        # One loop timer, never later than the machine's deadline: a later deadline
        # keeps the earlier timer, which then re-arms (early timeouts are no-ops).
        if timeout is not None:
            armed = self.armed
            if armed is None or timeout < armed:
                self.armed = timeout
                self.timers.arm(timeout, self.ref)
        while self.deferred:
            make = self.deferred.pop(0)
            self.apply(make(now_ms()))

    def defer(self, make: MakeStep) -> None:
        self.deferred.append(make)

    def feed(self, make: MakeStep) -> None:
        """Applies a background input on the loop; a refusal is logged."""
        try:
            self.apply(make(now_ms()))
        except FencelockError as e:
            logger.error("fencelock host bug: machine %s refused an input: %s", self.name, e)
        except Exception:
            logger.exception("fencelock host bug while driving %s", self.name)

    def feed_optional(self, make: Callable[[int], Optional[Step]]) -> bool:
        try:
            step = make(now_ms())
            if step is None:
                return False
            self.apply(step)
        except FencelockError as e:
            logger.error("fencelock host bug: machine %s refused an input: %s", self.name, e)
        except Exception:
            logger.exception("fencelock host bug while driving %s", self.name)
        return True

    def post(self, make: MakeStep) -> None:
        """Applies ``make(now)`` on the loop, from any thread (``now`` is read on the
        loop, so inputs never go back in time)."""
        if threading.get_ident() == self.thread:
            self.feed(make)
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            self.loop.call_soon_threadsafe(self.feed, make)

    def on_timer(self, at: int) -> None:
        if at != self.armed:
            return  # superseded by an earlier timer
        self.armed = None
        deadline = self.deadline
        if deadline is None:
            return
        now = now_ms()
        if now < deadline:
            self.armed = deadline
            self.timers.arm(deadline, self.ref)
            return
        fire(self, self.feed)

    async def run(self, first: MakeStep, want: frozenset[str]) -> dict[str, Any]:
        """Applies ``first(now)`` and waits for an event in ``want``. Operations on
        one machine run one after the other."""
        while self.waiter is not None:
            await asyncio.wait((self.waiter,))
        waiter: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self.want = want
        self.waiter = waiter
        try:
            self.apply(first(now_ms()))
            return await waiter
        finally:
            if self.waiter is waiter:
                self.want = None
                self.waiter = None

    def tick(self) -> None:
        fire(self)

    def cancel(self) -> None:
        with contextlib.suppress(FencelockError):
            if self.state not in TERMINAL and self.state != "releasing":
                self.apply(self.release_fn(now_ms()))


async def acquire_async(
    driver: AsyncDriver, first: MakeStep, want: frozenset[str]
) -> dict[str, Any]:
    """Drives a fresh machine until its acquisition outcome; a cancelled caller
    cancels the machine (which cleans up by itself)."""
    try:
        return await driver.run(first, want)
    except BaseException:
        driver.cancel()
        raise


class AsyncLease:
    """What every asyncio lease of the etcd, ZooKeeper and PostgreSQL backends has."""

    __slots__ = ("__weakref__", "_d", "acquired_at", "fencing_token", "info", "name", "stats")

    def __init__(self, driver: AsyncDriver, event: dict[str, Any]) -> None:
        self._d = driver
        lock = event["lock"]
        self.name: str = driver.name
        """The lock's name (etcd, PostgreSQL) or path (ZooKeeper)."""
        self.info: dict[str, Any] = dict(lock)
        """The core's ``lock`` as the ``acquired`` event gave it."""
        self.fencing_token: int = int(lock["token"])
        """Pass it with every write to the protected resource."""
        self.acquired_at: float = lock["acquired_at"] / 1000
        """When the lock was acquired, on the ``time.monotonic()`` clock (seconds)."""
        self.stats: dict[str, Any] = dict(event["stats"])
        """How the acquisition went, as the core reports it (``latency`` in ms)."""

    @property
    def valid_until(self) -> float:
        """End of validity on the ``time.monotonic()`` clock (seconds);
        ``math.inf`` for a lock without a time limit."""
        at = self._d.m._valid_until()
        return math.inf if at is None else at / 1000

    @property
    def lost(self) -> asyncio.Event:
        """Set when the lock is lost; ``await lease.lost.wait()`` to be told."""
        return self._d.lost

    @property
    def lost_reason(self) -> Optional[str]:
        """Why the lock was lost, else ``None``."""
        return self._d.lost_reason

    @property
    def state(self) -> str:
        """The machine's state."""
        return self._d.state

    def remaining(self) -> float:
        """Validity left now, in seconds (zero unless held; ``math.inf`` while a lock
        without a time limit is held)."""
        d = self._d
        left = d.m._remaining(now_ms())
        if left is None:
            return math.inf if d.state == "held" else 0.0
        return float(left) / 1000

    def check(self) -> None:
        """Raises :class:`LockLost` if the lock is lost, :class:`UsageError` if it was
        released."""
        d = self._d
        d.tick()
        if d.lost_reason is not None:
            raise lease_lost(self.name, d.lost_reason)
        if d.state in ("releasing", "released"):
            raise UsageError(INVALID_STATE, "the lock was released")

    async def release(self) -> str:
        """Releases the lock and returns how it ended. Cancelling the caller does not
        stop the release already started."""
        d = self._d
        outcome = await d.run(d.release_fn, RELEASE_DONE)
        return str(outcome.get("outcome", "released"))

    @property
    def released(self) -> bool:
        """Whether a release has started or finished."""
        return self._d.state in ("releasing", "released")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} token={self.fencing_token} state={self.state}>"


AL = TypeVar("AL", bound=AsyncLease)


class AsyncNamedLock(Generic[AL]):
    """One name of an asyncio lock object: ``async with``, or :meth:`acquire` /
    :meth:`release` by hand."""

    __slots__ = ("_acquire", "_lease", "_timeout", "name")

    def __init__(
        self, acquire: Callable[[Optional[int]], Any], name: str, timeout: Optional[int]
    ) -> None:
        self._acquire = acquire
        self.name = name
        self._timeout = timeout
        self._lease: Optional[AL] = None

    @property
    def lease(self) -> Optional[AL]:
        """The current lease, if acquired."""
        return self._lease

    async def acquire(self, timeout: Optional[float] = _UNSET) -> AL:
        """Acquires the lock within ``timeout`` seconds (default: the one given when
        the ``AsyncNamedLock`` was made; ``None``: wait as long as it takes)."""
        if self._lease is not None and not self._lease.released:
            raise not_held("this lock already holds a lease; release it first")
        ms = self._timeout if timeout is _UNSET else optional_seconds_to_ms(timeout, "timeout")
        lease: AL = await self._acquire(ms)
        self._lease = lease
        return lease

    async def release(self) -> str:
        """Releases the current lease."""
        if self._lease is None:
            raise not_held("release: this lock holds no lease")
        return await self._lease.release()

    async def __aenter__(self) -> AL:
        return await self.acquire()

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        lease = self._lease
        if lease is not None and not lease.released:
            try:
                await lease.release()
            except FencelockError:
                if exc is None:
                    raise
                logger.exception("fencelock: release after an error failed")
