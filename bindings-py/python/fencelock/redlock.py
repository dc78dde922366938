"""Redlock over ``redis.Redis`` clients (sync).

Each lease is one core machine. Every master has one sender thread and one
queue: commands reach it in the order they were emitted (pipelined when several
leases wait on it), and the N masters are asked concurrently, so a release never
overtakes its own acquire. Replies are fed back from the sender thread that
received them, each to the machine that sent the request, never to another one.
Timers are run by the waiting caller, or by one background timer thread while
the lease is held.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import weakref
from types import TracebackType
from typing import Any, Callable, Optional

import redis
import redis.asyncio
import redis.exceptions as redis_errors

from . import _native, _threads
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

__all__ = ["Lease", "Lock", "Redlock"]

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


class _Node(RedisNode):
    """One master: its client and the commands waiting for it, in emission order.

    One daemon thread per master sends them: a lone command with
    ``execute_command``, several at once in one pipeline (one round trip for every
    lease waiting on this master); ``EVAL`` where ``EVALSHA`` met ``NOSCRIPT``.
    The next batch goes out when the previous one has answered, so the master
    receives each lease's commands in the order they were emitted. The
    thread exits when idle and starts again on demand.
    """

    __slots__ = ("__weakref__", "lock", "queue", "running")

    def __init__(self, client: Any) -> None:
        self.client = client
        self.queue: queue.SimpleQueue[tuple[_Driver, Command]] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.running = False
        self.reload = True  # SCRIPT LOAD before the next pipeline
        _all_nodes.add(self)

    def submit(self, driver: _Driver, command: Command) -> bool:
        """Queues ``command``; ``False`` if the master's backlog is full."""
        if self.queue.qsize() >= MAX_NODE_BACKLOG:
            return False
        self.queue.put((driver, command))
        with self.lock:
            if self.running:
                return True
            self.running = True
        threading.Thread(target=self.run, name="fencelock-node", daemon=True).start()
        return True

    def run(self) -> None:
        jobs = self.queue
        while True:
            try:
                batch = [jobs.get(timeout=_threads.IDLE_SECONDS)]
            except queue.Empty:
                with self.lock:
                    if jobs.empty():
                        self.running = False
                        return
                continue
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(jobs.get_nowait())
                except queue.Empty:
                    break
            try:
                self.execute(batch)
            except BaseException:  # pragma: no cover - execute reports every failure
                logger.exception("fencelock node sender failed")
            del batch  # hold no lease while waiting (a dropped lease must be collectable)

    def execute(self, batch: list[tuple[_Driver, Command]]) -> None:
        if len(batch) == 1:
            driver, (node, req, script, argv) = batch[0]
            client = self.client
            try:
                try:
                    value = client.execute_command(*argv)
                except redis_errors.NoScriptError:
                    self.reload = True
                    value = client.execute_command("EVAL", SCRIPTS[script][1], *argv[2:])
            except Exception as e:
                fail_all(batch, e)
            else:
                driver.on_reply(req, node, value)
            return
        pipe, loads = self.pipeline(batch)
        try:
            results = pipe.execute(raise_on_error=False)
        except Exception as e:
            self.reload = True
            fail_all(batch, e)
            return
        retry = self.deliver(batch, results, loads)
        if retry:
            self.execute_eval(retry)

    def execute_eval(self, batch: list[tuple[_Driver, Command]]) -> None:
        """Runs commands again with ``EVAL`` (the script's source from the core)."""
        pipe = self.eval_pipeline(batch)
        try:
            results = pipe.execute(raise_on_error=False)
        except Exception as e:
            fail_all(batch, e)
            return
        deliver_all(batch, results)


_all_nodes: weakref.WeakSet[_Node] = weakref.WeakSet()


def _after_fork() -> None:
    # Sender threads do not survive fork(): the child starts them again.
    for node in list(_all_nodes):
        node.queue = queue.SimpleQueue()
        node.lock = threading.Lock()
        node.running = False
        node.reload = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class _Driver:
    """Drives one ``RedlockMachine`` with the masters of a ``Redlock``."""

    __slots__ = (
        "__weakref__",
        "armed",
        "deadline",
        "lock",
        "lost",
        "lost_reason",
        "m",
        "nodes",
        "observe",
        "op_lock",
        "outcome",
        "ref",
        "refused",
        "resources",
        "state",
        "valid_until",
        "wake",
        "want",
    )

    def __init__(
        self,
        machine: _native.RedlockMachine,
        nodes: list[_Node],
        resources: tuple[str, ...],
        observe: Callable[[tuple[str, ...], dict[str, Any]], None],
    ) -> None:
        self.m = machine
        self.nodes = nodes
        self.resources = resources
        self.observe = observe
        self.lock = threading.Lock()
        self.wake: queue.SimpleQueue[None] = queue.SimpleQueue()
        self.op_lock = threading.Lock()
        self.want: Optional[frozenset[str]] = None
        self.outcome: Optional[dict[str, Any]] = None
        self.deadline: Optional[int] = None
        self.armed: Optional[int] = None
        self.state = "acquiring"
        self.lost = threading.Event()
        self.lost_reason: Optional[str] = None
        self.valid_until = 0
        self.refused: list[Command] = []
        self.ref = weakref.ref(self)

    # ----- under self.lock -------------------------------------------------------------

    def apply(self, step: Step) -> None:
        commands, events, state, timeout = step
        self.state = state
        if timeout != self.deadline:
            self.deadline = timeout
            if self.want is not None:
                self.wake.put(None)  # the waiting caller re-arms its timer
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
                self.lost.set()
            self.observe(self.resources, event)
            want = self.want
            if want is not None and kind in want:
                self.outcome = event
                self.want = None
                self.wake.put(None)
        if self.want is None and timeout is not None and timeout != self.armed:
            self.armed = timeout
            _threads.timers().arm(timeout, self.ref)
        while self.refused:
            node, req = self.refused.pop(0)[:2]
            self.apply(self.m._error(now_ms(), req, node, "connection", "node backlog is full"))

    def apply_quietly(self, step: Callable[..., Step], *args: Any) -> None:
        """Applies a background input; a refusal would be a host bug, so it is
        logged, never raised into a sender or timer thread."""
        try:
            self.apply(step(*args))
        except FencelockError as e:
            logger.error("fencelock host bug: machine refused an input: %s", e)

    # ----- sender threads --------------------------------------------------------------

    def on_reply(self, req: int, node: int, value: Any) -> None:
        with self.lock:
            self.apply_quietly(self.m._reply, now_ms(), req, node, value)

    def on_error(self, req: int, node: int, kind: str, message: str) -> None:
        with self.lock:
            self.apply_quietly(self.m._error, now_ms(), req, node, kind, message)

    def _on_timer(self, at: int) -> None:
        with self.lock:
            if at == self.armed:
                self.armed = None
            if self.want is not None or self.deadline != at:
                return  # a caller is driving, or the deadline moved
            self.apply_quietly(self.m._timeout, now_ms())

    # ----- callers ---------------------------------------------------------------------

    def run(self, first: Callable[[int], Step], want: frozenset[str]) -> dict[str, Any]:
        """Applies ``first(now)`` and drives until an event in ``want`` (the
        operation's outcome, as the machine reports it). ``now`` is read under the
        lock, so no input with a later time can be applied before it."""
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
                            raise InternalError(INTERNAL, f"machine stalled in state {self.state}")
                        now = now_ms()
                        if deadline <= now:
                            self.apply(self.m._timeout(now))
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
            self.apply(self.m._timeout(now_ms()))


class Lease:
    """A held lock: its fencing token, its validity, and whether it was lost.

    Obtained from :meth:`Lock.acquire` or ``with redlock("name") as lease``.
    """

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
        """End of validity on the ``time.monotonic()`` clock (seconds); moves on with
        every extension. Stop relying on the lock at or after this time."""
        return self._d.valid_until / 1000

    @property
    def lost(self) -> threading.Event:
        """Set when the lease is lost (auto-extension failed, validity ended, or the
        masters answered that our value no longer holds the keys)."""
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
        """Validity left now, in seconds (zero once lost, expired or released). Reads
        the clock only, no round trip."""
        d = self._d
        with d.lock:
            return d.m._remaining(now_ms()) / 1000

    def check(self) -> None:
        """Raises :class:`LockLost` if the lease is lost (checked against the clock now),
        :class:`UsageError` if it was released."""
        d = self._d
        d.tick()
        if d.lost_reason is not None:
            raise lease_lost(",".join(self.resources), d.lost_reason, noun="lease on")
        if d.state in ("releasing", "released"):
            raise UsageError(INVALID_STATE, "the lease was released")

    def extend(self) -> bool:
        """Extends the lease now (joins an automatic extension in flight). Returns
        ``True`` if a quorum confirmed (``valid_until`` moved on), ``False`` if not
        (the lease stays valid until the unchanged ``valid_until``). Raises
        :class:`LockLost` if the lease is lost."""
        d = self._d
        lock = ",".join(self.resources)
        with lost_if_refused(lock, lambda: d.lost_reason, noun="lease on"):
            outcome = d.run(d.m._extend, _EXTEND_DONE)
        if outcome["type"] == "lost":
            raise lease_lost(lock, outcome["reason"], noun="lease on")
        return bool(outcome["type"] == "extended")

    def release(self) -> ReleaseOutcome:
        """Releases the lock on every master and returns how it ended:
        ``released``, ``already_expired``, ``held_by_other`` or
        ``quorum_unreachable``. Releasing an expired or lost lease is not an error;
        releasing twice is (:class:`UsageError` ``INVALID_STATE``)."""
        d = self._d
        outcome = d.run(d.m._release, _RELEASE_DONE)
        result: ReleaseOutcome = outcome["outcome"]
        return result

    @property
    def released(self) -> bool:
        """Whether a release has started or finished."""
        return self._d.state in ("releasing", "released")

    def __repr__(self) -> str:
        return (
            f"<Lease {','.join(self.resources)} token={self.fencing_token} state={self._d.state}>"
        )


class Lock:
    """One or more resources of a :class:`Redlock`: a context manager, or
    :meth:`acquire` / :meth:`release` / :meth:`extend` by hand. Holds one lease at
    a time; share the ``Redlock``, not the ``Lock``, between threads."""

    __slots__ = ("_lease", "_redlock", "_timeout", "resources")

    def __init__(self, redlock: Redlock, resources: list[str], timeout: Optional[int]) -> None:
        self._redlock = redlock
        self.resources: tuple[str, ...] = tuple(resources)
        self._timeout = timeout
        self._lease: Optional[Lease] = None

    @property
    def lease(self) -> Optional[Lease]:
        """The current lease, if acquired and not yet released."""
        return self._lease

    def acquire(self, timeout: Optional[float] = _UNSET) -> Lease:
        """Acquires the lock, retrying per the ``Redlock``'s retry policy for at most
        ``timeout`` seconds (default: the one given when the lock was made; ``None``:
        the retry policy alone). Raises :class:`LockNotAcquired`."""
        if self._lease is not None and not self._lease.released:
            raise not_held("this Lock already holds a lease; release it first")
        ms = self._timeout if timeout is _UNSET else optional_seconds_to_ms(timeout, "timeout")
        self._lease = self._redlock._acquire(self.resources, ms)
        return self._lease

    def release(self) -> ReleaseOutcome:
        """Releases the current lease (see :meth:`Lease.release`)."""
        if self._lease is None:
            raise not_held("release: this Lock holds no lease")
        return self._lease.release()

    def extend(self) -> bool:
        """Extends the current lease (see :meth:`Lease.extend`)."""
        if self._lease is None:
            raise not_held("extend: this Lock holds no lease")
        return self._lease.extend()

    def __enter__(self) -> Lease:
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


class Redlock:
    """Redlock over independent Redis masters, one ``redis.Redis`` client each.

    ``redlock("orders:42")`` (or several names) gives a :class:`Lock`::

        redlock = Redlock([redis.Redis(port=p) for p in ports], ttl=10.0)
        with redlock("orders:42", timeout=5.0) as lease:
            write(lease.fencing_token)

    Times are seconds (floats), rounded up to whole milliseconds. Options left at
    ``None`` keep the core's defaults: ``drift_factor`` 0.01, ``node_timeout`` a
    tenth of the validity window (at most 0.2 s), ``retry`` :class:`Retry()`,
    ``namespace`` ``"fencelock"``. ``rng_seed`` pins the retry jitter (default: 64
    random bits per acquisition). ``on_event(resources, event)`` sees every core
    event; :attr:`stats` counts them.
    """

    def __init__(
        self,
        clients: list[redis.Redis],
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
            redis.Redis,
            redis.asyncio.Redis,
            "Redlock",
            "Redlock needs redis.Redis clients; use AsyncRedlock for redis.asyncio",
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
        self._nodes = [_Node(client) for client in self._clients]
        self.params: dict[str, int] = dict(_native.redlock_params(self._config))
        """What the core derived: ``nodes``, ``quorum``, ``ttl``, ``drift``, ``window``,
        ``node_timeout`` (ms)."""
        self.stats = Stats()
        """Counters fed by every lease's events."""
        self._observe = Observer(self.stats, on_event)

    def __call__(
        self, *resources: str | list[str] | tuple[str, ...], timeout: Optional[float] = None
    ) -> Lock:
        """A :class:`Lock` on one or more resources; ``timeout`` (seconds) bounds each
        acquisition (``None``: the retry policy alone)."""
        names = resource_names(resources)
        return Lock(self, names, optional_seconds_to_ms(timeout, "timeout"))

    def _acquire(self, resources: tuple[str, ...], timeout: Optional[int]) -> Lease:
        value, seed = random_value_and_seed()
        config = with_seed(self._config, self._fixed_seed, seed)
        init = {"now": now_ms(), "resources": list(resources), "value": value, "timeout": timeout}
        machine = _native.RedlockMachine(config, init)
        driver = _Driver(machine, self._nodes, resources, self._observe)
        try:
            outcome = driver.run(lambda _now: machine._drain(), _ACQUIRE_DONE)
        except BaseException:
            _cancel(driver)
            raise
        if outcome["type"] != "acquired":
            raise not_acquired(",".join(resources), outcome, attempts=True)
        return Lease(driver, outcome)


def _cancel(driver: _Driver) -> None:
    """Cancels an interrupted acquisition (the machine releases what it may hold)."""
    with contextlib.suppress(FencelockError), driver.lock:
        if driver.state in ("acquiring", "retrying"):
            driver.apply(driver.m._release(now_ms()))
