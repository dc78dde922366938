"""Redlock over ``redis.asyncio.Redis`` clients.

Each lease is one core machine driven on the running event loop. Every master has
one sender task at a time and one queue: commands reach it in the order they were
emitted (pipelined when several leases wait on it), and the N masters are asked
concurrently, so a release never overtakes its own acquire. Replies are fed back
by the sender, each to the machine that sent the request, never to another one.
The machines' timers are loop timer callbacks, so auto-extension keeps running in
the background while a lease is held and stops once it is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import weakref
from collections import deque
from types import TracebackType
from typing import Any, Callable, Optional

import redis
import redis.asyncio
import redis.exceptions as redis_errors

from . import _native
from ._common import (
    SCRIPTS,
    AcquireStats,
    Command,
    EventHook,
    Observer,
    RedisNode,
    ReleaseOutcome,
    Retry,
    Stats,
    check_clients,
    deliver_all,
    fail_all,
    lease_lost,
    logger,
    lost_if_refused,
    not_acquired,
    not_held,
    now_ms,
    optional_seconds_to_ms,
    random_value_and_seed,
    redlock_config,
    resource_names,
    with_seed,
)
from .errors import (
    INTERNAL,
    INVALID_STATE,
    FencelockError,
    InternalError,
    UsageError,
)

__all__ = ["AsyncLease", "AsyncLock", "AsyncRedlock"]

Step = tuple[list[Command], list[dict[str, Any]], str, Optional[int]]

MAX_NODE_BACKLOG = 4096
"""Commands queued for one master before new ones fail at once (a master that
stopped answering must not grow a queue without bound)."""

MAX_BATCH = 128
"""Most commands sent to one master in one pipeline."""

_ACQUIRE_DONE = frozenset(("acquired", "acquire_failed"))
_EXTEND_DONE = frozenset(("extended", "extend_failed", "lost"))
_RELEASE_DONE = frozenset(("released",))
_UNSET: Any = object()


class _LoopTimers:
    """Every lease's timer on one event loop: a heap of ``(at, seq, driver)`` and
    one loop timer for the earliest entry. Drivers are held weakly: a lease nobody
    references any more stops being driven (its keys expire with their TTL)."""

    __slots__ = ("__weakref__", "handle", "handle_at", "heap", "loop", "seq")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.heap: list[tuple[int, int, weakref.ref[Any]]] = []
        self.seq = 0
        self.handle: Optional[asyncio.TimerHandle] = None
        self.handle_at: Optional[int] = None

    def arm(self, at: int, driver: weakref.ref[Any]) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, driver))
        if self.handle_at is None or at < self.handle_at:
            self._schedule(at)

    def _schedule(self, at: int) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.handle_at = at
        delay = (at - now_ms()) / 1000 + 0.0002
        self.handle = self.loop.call_later(max(delay, 0.0), self._fire)

    def _fire(self) -> None:
        self.handle = None
        self.handle_at = None
        heap = self.heap
        now = now_ms()
        while heap and heap[0][0] <= now:
            at, _, ref = heapq.heappop(heap)
            driver = ref()
            if driver is not None:
                driver.on_timer(at)
        if heap:
            self._schedule(heap[0][0])


_loop_timers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopTimers] = (
    weakref.WeakKeyDictionary()
)


def _timers(loop: asyncio.AbstractEventLoop) -> _LoopTimers:
    timers = _loop_timers.get(loop)
    if timers is None:
        timers = _loop_timers[loop] = _LoopTimers(loop)
    return timers


class _LoopGroup:
    """An ``AsyncRedlock``'s masters on one event loop, and that loop's timers."""

    __slots__ = ("loop", "nodes", "timers")

    def __init__(self, clients: list[Any], loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.nodes = [_Node(client, loop) for client in clients]
        self.timers = _timers(loop)


class _Node(RedisNode):
    """One master on one event loop: its client and the commands waiting for it.

    A sender task runs while there is something to send: a lone command with
    ``execute_command``, several at once in one pipeline (one round trip for every
    lease waiting on this master); ``EVAL`` where ``EVALSHA`` met ``NOSCRIPT``.
    The next batch goes out when the previous one has answered, so the master
    receives each lease's commands in the order they were emitted.
    """

    __slots__ = ("loop", "queue", "task")

    def __init__(self, client: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop
        self.queue: deque[tuple[_Driver, Command]] = deque()
        self.task: Optional[asyncio.Task[None]] = None
        self.reload = True  # SCRIPT LOAD before the next pipeline

    def submit(self, driver: _Driver, command: Command) -> bool:
        """Queues ``command``; ``False`` if the master's backlog is full."""
        if len(self.queue) >= MAX_NODE_BACKLOG:
            return False
        self.queue.append((driver, command))
        if self.task is None:
            self.task = self.loop.create_task(self.run())
        return True

    async def run(self) -> None:
        jobs = self.queue
        client = self.client
        try:
            while jobs:
                if len(jobs) > 1:
                    count = min(len(jobs), MAX_BATCH)
                    await self.execute([jobs.popleft() for _ in range(count)])
                    continue
                # A lone command (the common case with one lease at a time), inline.
                driver, command = jobs.popleft()
                node, req, script, argv = command
                try:
                    try:
                        value = await client.execute_command(*argv)
                    except redis_errors.NoScriptError:
                        self.reload = True
                        value = await client.execute_command("EVAL", SCRIPTS[script][1], *argv[2:])
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    fail_all([(driver, command)], e)
                else:
                    driver.on_reply(req, node, value)
        finally:
            self.task = None

    async def execute(self, batch: list[tuple[_Driver, Command]]) -> None:
        pipe, loads = self.pipeline(batch)
        try:
            results = await pipe.execute(raise_on_error=False)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.reload = True
            fail_all(batch, e)
            return
        retry = self.deliver(batch, results, loads)
        if retry:
            await self.execute_eval(retry)

    async def execute_eval(self, batch: list[tuple[_Driver, Command]]) -> None:
        """Runs commands again with ``EVAL`` (the script's source from the core)."""
        pipe = self.eval_pipeline(batch)
        try:
            results = await pipe.execute(raise_on_error=False)
        except Exception as e:
            fail_all(batch, e)
            return
        deliver_all(batch, results)


class _Driver:
    """Drives one ``RedlockMachine`` with the masters of an ``AsyncRedlock``."""

    __slots__ = (
        "__weakref__",
        "armed",
        "deadline",
        "loop",
        "lost_event",
        "lost_reason",
        "m",
        "nodes",
        "observe",
        "ref",
        "refused",
        "resources",
        "state",
        "timers",
        "valid_until",
        "waiter",
        "want",
    )

    def __init__(
        self,
        machine: _native.RedlockMachine,
        group: _LoopGroup,
        resources: tuple[str, ...],
        observe: Callable[[tuple[str, ...], dict[str, Any]], None],
    ) -> None:
        self.m = machine
        self.nodes = group.nodes
        self.timers = group.timers
        self.loop = group.loop
        self.resources = resources
        self.observe = observe
        self.refused: list[Command] = []
        self.want: Optional[frozenset[str]] = None
        self.waiter: Optional[asyncio.Future[dict[str, Any]]] = None
        self.deadline: Optional[int] = None
        self.armed: Optional[int] = None
        self.ref = weakref.ref(self)
        self.state = "acquiring"
        self.lost_event: Optional[asyncio.Event] = None  # made on first use
        self.lost_reason: Optional[str] = None
        self.valid_until = 0

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
        nodes = self.nodes
        for command in commands:
            if not nodes[command[0]].submit(self, command):
                self.refused.append(command)
        for event in events:
            kind = event["type"]
            if kind == "acquired":
                self.valid_until = event["lease"]["valid_until"]
            elif kind == "extended":
                self.valid_until = event["valid_until"]
            elif kind == "lost":
                self.lost_reason = event["reason"]
                if self.lost_event is not None:
                    self.lost_event.set()
            self.observe(self.resources, event)
            want = self.want
            if want is not None and kind in want:
                self.want = None
                waiter = self.waiter
                self.waiter = None
                if waiter is not None and not waiter.done():
                    waiter.set_result(event)
        # One loop timer, never later than the machine's deadline: a later deadline
        # keeps the earlier timer, which then re-arms (early timeouts are no-ops).
        if timeout is not None:
            armed = self.armed
            if armed is None or timeout < armed:
                self.arm(timeout)
        while self.refused:
            node, req = self.refused.pop(0)[:2]
            self.apply(self.m._error(now_ms(), req, node, "connection", "node backlog is full"))

    def apply_quietly(self, step: Callable[..., Step], *args: Any) -> None:
        try:
            self.apply(step(*args))
        except FencelockError as e:
            logger.error("fencelock host bug: machine refused an input: %s", e)

    def arm(self, at: int) -> None:
        self.armed = at
        self.timers.arm(at, self.ref)

    def on_timer(self, at: int) -> None:
        if at != self.armed:
            return  # superseded by an earlier timer
        self.armed = None
        deadline = self.deadline
        if deadline is None:
            return
        now = now_ms()
        if now < deadline:
            self.arm(deadline)
            return
        self.apply_quietly(self.m._timeout, now)

    def on_reply(self, req: int, node: int, value: Any) -> None:
        try:
            self.apply(self.m._reply(now_ms(), req, node, value))
        except FencelockError as e:
            logger.error("fencelock host bug: machine refused a reply: %s", e)

    def on_error(self, req: int, node: int, kind: str, message: str) -> None:
        self.apply_quietly(self.m._error, now_ms(), req, node, kind, message)

    async def run(self, first: Callable[[int], Step], want: frozenset[str]) -> dict[str, Any]:
        """Applies ``first(now)`` and waits for an event in ``want`` (the
        operation's outcome, as the machine reports it). Operations on one lease
        run one after the other; ``now`` is read when this one starts, after any
        reply applied while it waited its turn."""
        while self.waiter is not None:
            await asyncio.wait((self.waiter,))
        waiter: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self.want = want
        self.waiter = waiter
        try:
            self.apply(first(now_ms()))
            if not waiter.done() and self.deadline is None and self.want is not None:
                raise InternalError(INTERNAL, f"machine stalled in state {self.state}")
            return await waiter
        finally:
            if self.waiter is waiter:
                self.want = None
                self.waiter = None

    def tick(self) -> None:
        self.apply(self.m._timeout(now_ms()))


class AsyncLease:
    """A held lock (asyncio): fencing token, validity, and whether it was lost."""

    __slots__ = ("__weakref__", "_d", "acquired_at", "fencing_token", "resources", "stats", "value")

    def __init__(self, driver: _Driver, event: dict[str, Any]) -> None:
        self._d = driver
        lease = event["lease"]
        self.resources: tuple[str, ...] = tuple(lease["resources"])
        """The locked resources, sorted."""
        self.value: str = lease["value"]
        """The random value written into every lock key."""
        self.fencing_token: Optional[int] = lease["fencing_token"]
        """Pass it with every write to the protected resource (``None`` with fencing off)."""
        self.acquired_at: float = lease["acquired_at"] / 1000
        """When the lock was acquired, on the ``time.monotonic()`` clock (seconds)."""
        stats = event["stats"]
        self.stats = AcquireStats(stats["latency"] / 1000, stats["attempts"], stats["contended"])
        """How the acquisition went."""

    @property
    def valid_until(self) -> float:
        """End of validity on the ``time.monotonic()`` clock (seconds)."""
        return self._d.valid_until / 1000

    @property
    def lost(self) -> asyncio.Event:
        """Set when the lease is lost; ``await lease.lost.wait()`` to be told."""
        return self._d.lost

    @property
    def lost_reason(self) -> Optional[str]:
        """``expired``, ``extension_failed`` or ``rejected`` once lost; else ``None``."""
        return self._d.lost_reason

    @property
    def state(self) -> str:
        """The machine's state: ``held``, ``extending``, ``lost``, ``releasing``, ``released``."""
        return self._d.state

    def remaining(self) -> float:
        """Validity left now, in seconds (zero once lost, expired or released)."""
        return self._d.m._remaining(now_ms()) / 1000

    def check(self) -> None:
        """Raises :class:`LockLost` if the lease is lost (checked against the clock now),
        :class:`UsageError` if it was released."""
        d = self._d
        d.tick()
        if d.lost_reason is not None:
            raise lease_lost(",".join(self.resources), d.lost_reason, noun="lease on")
        if d.state in ("releasing", "released"):
            raise UsageError(INVALID_STATE, "the lease was released")

    async def extend(self) -> bool:
        """Extends the lease now; ``True`` if a quorum confirmed, ``False`` if not (still
        valid until the unchanged ``valid_until``). Raises :class:`LockLost`."""
        d = self._d
        lock = ",".join(self.resources)
        with lost_if_refused(lock, lambda: d.lost_reason, noun="lease on"):
            outcome = await d.run(d.m._extend, _EXTEND_DONE)
        if outcome["type"] == "lost":
            raise lease_lost(lock, outcome["reason"], noun="lease on")
        return bool(outcome["type"] == "extended")

    async def release(self) -> ReleaseOutcome:
        """Releases the lock on every master: ``released``, ``already_expired``,
        ``held_by_other`` or ``quorum_unreachable``. Cancelling the caller does not
        stop the release commands already sent."""
        d = self._d
        outcome = await d.run(d.m._release, _RELEASE_DONE)
        result: ReleaseOutcome = outcome["outcome"]
        return result

    @property
    def released(self) -> bool:
        """Whether a release has started or finished."""
        return self._d.state in ("releasing", "released")

    def __repr__(self) -> str:
        return (
            f"<AsyncLease {','.join(self.resources)} token={self.fencing_token} "
            f"state={self._d.state}>"
        )


class AsyncLock:
    """One or more resources of an :class:`AsyncRedlock`: ``async with``, or
    :meth:`acquire` / :meth:`release` / :meth:`extend` by hand."""

    __slots__ = ("_lease", "_redlock", "_timeout", "resources")

    def __init__(self, redlock: AsyncRedlock, resources: list[str], timeout: Optional[int]) -> None:
        self._redlock = redlock
        self.resources: tuple[str, ...] = tuple(resources)
        self._timeout = timeout
        self._lease: Optional[AsyncLease] = None

    @property
    def lease(self) -> Optional[AsyncLease]:
        """The current lease, if acquired."""
        return self._lease

    async def acquire(self, timeout: Optional[float] = _UNSET) -> AsyncLease:
        """Acquires the lock within ``timeout`` seconds (default: the lock's; ``None``:
        the retry policy alone). Raises :class:`LockNotAcquired`."""
        if self._lease is not None and not self._lease.released:
            raise not_held("this AsyncLock already holds a lease; release it first")
        ms = self._timeout if timeout is _UNSET else optional_seconds_to_ms(timeout, "timeout")
        self._lease = await self._redlock._acquire(self.resources, ms)
        return self._lease

    async def release(self) -> ReleaseOutcome:
        """Releases the current lease (see :meth:`AsyncLease.release`)."""
        if self._lease is None:
            raise not_held("release: this AsyncLock holds no lease")
        return await self._lease.release()

    async def extend(self) -> bool:
        """Extends the current lease (see :meth:`AsyncLease.extend`)."""
        if self._lease is None:
            raise not_held("extend: this AsyncLock holds no lease")
        return await self._lease.extend()

    async def __aenter__(self) -> AsyncLease:
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


class AsyncRedlock:
    """Redlock over independent Redis masters, one ``redis.asyncio.Redis`` client
    each. Same options as :class:`fencelock.Redlock`::

        redlock = AsyncRedlock([redis.asyncio.Redis(port=p) for p in ports], ttl=10.0)
        async with redlock("orders:42", timeout=5.0) as lease:
            await write(lease.fencing_token)
    """

    def __init__(
        self,
        clients: list[redis.asyncio.Redis],
        *,
        ttl: float = 10.0,
        retry: Optional[Retry] = None,
        drift_factor: Optional[float] = None,
        auto_extend: bool = True,
        node_timeout: Optional[float] = None,
        fencing: bool = True,
        namespace: Optional[str] = None,
        rng_seed: Optional[int] = None,
        on_event: Optional[EventHook] = None,
    ) -> None:
        self._clients = check_clients(
            clients,
            redis.asyncio.Redis,
            redis.Redis,
            "AsyncRedlock",
            "AsyncRedlock needs redis.asyncio.Redis clients; use Redlock for redis.Redis",
        )
        self._config = redlock_config(
            len(self._clients),
            ttl=ttl,
            retry=retry,
            drift_factor=drift_factor,
            auto_extend=auto_extend,
            node_timeout=node_timeout,
            fencing=fencing,
            namespace=namespace,
            rng_seed=rng_seed,
        )
        self._fixed_seed = rng_seed is not None
        self._groups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopGroup] = (
            weakref.WeakKeyDictionary()
        )
        self._last: Optional[_LoopGroup] = None
        self.params: dict[str, int] = dict(_native.redlock_params(self._config))
        """What the core derived: ``nodes``, ``quorum``, ``ttl``, ``drift``, ``window``,
        ``node_timeout`` (ms)."""
        self.stats = Stats()
        """Counters fed by every lease's events."""
        self._observe = Observer(self.stats, on_event)

    def __call__(
        self, *resources: str | list[str] | tuple[str, ...], timeout: Optional[float] = None
    ) -> AsyncLock:
        """An :class:`AsyncLock` on one or more resources."""
        names = resource_names(resources)
        return AsyncLock(self, names, optional_seconds_to_ms(timeout, "timeout"))

    async def _acquire(self, resources: tuple[str, ...], timeout: Optional[int]) -> AsyncLease:
        value, seed = random_value_and_seed()
        config = with_seed(self._config, self._fixed_seed, seed)
        init = {"now": now_ms(), "resources": list(resources), "value": value, "timeout": timeout}
        machine = _native.RedlockMachine(config, init)
        loop = asyncio.get_running_loop()
        group = self._last
        if group is None or group.loop is not loop:
            group = self._groups.get(loop)
            if group is None:
                group = self._groups[loop] = _LoopGroup(self._clients, loop)
            self._last = group
        driver = _Driver(machine, group, resources, self._observe)
        try:
            outcome = await driver.run(lambda _now: machine._drain(), _ACQUIRE_DONE)
        except BaseException:
            if driver.state in ("acquiring", "retrying"):
                with contextlib.suppress(FencelockError):
                    driver.apply(machine._release(now_ms()))  # cancel: the core releases
            raise
        if outcome["type"] != "acquired":
            raise not_acquired(",".join(resources), outcome, attempts=True)
        return AsyncLease(driver, outcome)
