"""etcd lease mutex and election over the etcd v3 JSON gateway, sync and asyncio.

Holders exclude Go's ``concurrency.Mutex`` / ``Election`` holders of the same name
(and ``etcdctl lock``): both queue keys ``name/<hex lease id>`` and the
first-created key holds. The fencing token is our key's create revision. Every
command is encoded, and every response decoded, by the core's gateway codec;
this module moves bytes (standard-library HTTP, see :mod:`fencelock._gateway`)
and runs the drive loop::

    locks = EtcdLock(["127.0.0.1:2379"], ttl=10)
    with locks("orders", timeout=5.0) as lease:   # raises LockNotAcquired
        write(lease.fencing_token)                # lease.lost is set if the lease is lost

    election = EtcdElection(["127.0.0.1:2379"])
    leadership = election.campaign("leader", "node-1")
    leadership.proclaim("node-1 at :8080")
    election.leader("leader")                     # EtcdLeader(key, revision, lease, value)
    leadership.resign()
"""

from __future__ import annotations

import asyncio
import queue
import ssl
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from . import _native
from ._common import (
    EventHook,
    Observer,
    Retry,
    Stats,
    check_bool,
    check_int,
    check_str,
    lease_lost,
    lost_if_refused,
    not_acquired,
    now_ms,
    optional_seconds_to_ms,
    seconds_to_ms,
    set_drift,
    set_retry,
    set_seed,
    with_seed,
)
from ._drive import (
    ACQUIRE_DONE,
    AsyncDriver,
    AsyncLease,
    AsyncNamedLock,
    NamedLock,
    SyncDriver,
    SyncLease,
    acquire_async,
    acquire_sync,
)
from ._gateway import MAX_LINE, AsyncPool, Gateway, GatewayFailure, SyncWatch, Workers
from .errors import (
    INVALID_INPUT,
    LOCK_NOT_ACQUIRED,
    InvalidInput,
    LockNotAcquired,
)

__all__ = [
    "AsyncEtcdElection",
    "AsyncEtcdLeadership",
    "AsyncEtcdLease",
    "AsyncEtcdLock",
    "AsyncEtcdObservation",
    "EtcdElection",
    "EtcdLeader",
    "EtcdLeadership",
    "EtcdLease",
    "EtcdLock",
    "EtcdObservation",
]

Endpoints = Union[str, list[str], tuple[str, ...]]

_PROCLAIM_DONE = frozenset(("proclaimed", "proclaim_failed", "lost"))
_LEADER_DONE = frozenset(("leader", "observe_failed"))


@dataclass(frozen=True)
class EtcdLeader:
    """An election's leader: the first-created key under the name (any
    campaigner's, ours or Go's)."""

    key: str
    """The leader's key, ``name/<hex lease id>``."""
    revision: int
    """Its create revision: the leader's fencing token."""
    lease: Optional[int]
    """Its lease id."""
    value: str
    """The value it proclaimed."""

    @classmethod
    def of(cls, leader: Optional[dict[str, Any]]) -> Optional[EtcdLeader]:
        if leader is None:
            return None
        lease = leader.get("lease")
        return cls(
            leader["key"],
            int(leader["revision"]),
            None if lease is None else int(lease),
            leader["value"],
        )


def etcd_config(
    *,
    ttl: object,
    drift_factor: object,
    request_timeout: object,
    wait: object,
    poll_interval: object,
    recheck: object,
    retry: Optional[Retry],
    rng_seed: object,
) -> dict[str, Any]:
    """The vectors' etcd ``config`` dict (unset options keep the core's defaults)."""
    if isinstance(ttl, float) and ttl.is_integer():
        ttl = int(ttl)
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        raise InvalidInput(
            INVALID_INPUT, f"ttl must be a whole number of seconds (etcd's unit), got {ttl!r}"
        )
    config: dict[str, Any] = {"ttl_secs": check_int(ttl, "ttl")}
    set_drift(config, drift_factor)
    if request_timeout is not None:
        config["request_timeout"] = seconds_to_ms(request_timeout, "request_timeout")
    if wait == "watch":
        config["wait"] = {"type": "watch", "recheck": optional_seconds_to_ms(recheck, "recheck")}
    elif wait == "poll":
        config["wait"] = {"type": "poll", "interval": seconds_to_ms(poll_interval, "poll_interval")}
    else:
        raise InvalidInput(INVALID_INPUT, f"wait must be 'watch' or 'poll', got {wait!r}")
    set_retry(config, retry)
    set_seed(config, rng_seed)
    _native.check_config("etcd", config)
    return config


def _proclaimed(name: str, outcome: dict[str, Any]) -> bool:
    if outcome["type"] == "lost":
        raise lease_lost(name, outcome["reason"])
    return bool(outcome["type"] == "proclaimed")


class _Base:
    """What the sync and asyncio etcd classes share: the constructor (the
    gateway, the config, the host), the machine factory, stats and hooks."""

    _Host: Callable[[Gateway], Any]
    """The host class of the sync or asyncio subclass."""

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        ttl: int = 10,
        drift_factor: Optional[float] = None,
        request_timeout: Optional[float] = None,
        wait: str = "watch",
        poll_interval: float = 0.25,
        recheck: Optional[float] = None,
        retry: Optional[Retry] = None,
        rng_seed: Optional[int] = None,
        on_event: Optional[EventHook] = None,
        headers: Optional[dict[str, str]] = None,
        http_timeout: float = 5.0,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        self._config = etcd_config(
            ttl=ttl,
            drift_factor=drift_factor,
            request_timeout=request_timeout,
            wait=wait,
            poll_interval=poll_interval,
            recheck=recheck,
            retry=retry,
            rng_seed=rng_seed,
        )
        timeout_ms = seconds_to_ms(http_timeout, "http_timeout")
        if timeout_ms == 0:
            raise InvalidInput(INVALID_INPUT, "http_timeout must be positive")
        self._gateway = Gateway(
            endpoints, headers=headers, timeout=timeout_ms / 1000, ssl_context=ssl_context
        )
        self._fixed_seed = rng_seed is not None
        self.stats = Stats()
        """Counters fed by every machine's events."""
        self._observe = Observer(self.stats, on_event)
        self._host = self._Host(self._gateway)

    @property
    def endpoints(self) -> list[str]:
        """The gateway endpoints, as URLs."""
        return [e.url for e in self._gateway.endpoints]

    def _machine(self, kind: str, init: dict[str, Any]) -> _native.EtcdGatewayMachine:
        config = with_seed(self._config, self._fixed_seed)
        init["now"] = now_ms()
        return _native.EtcdGatewayMachine(kind, config, init)


# ----- sync ------------------------------------------------------------------------------


class _SyncHost:
    """Runs gateway requests for sync drivers: posts on worker threads, each watch
    on a thread of its own."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.workers = Workers()

    def perform(self, driver: SyncDriver, request: tuple[str, int, Any, Any]) -> None:
        kind, req, path, body = request
        if kind == "post":
            self.workers.submit(lambda conns: self._post(driver, req, path, body, conns))
        elif kind == "watch":
            watch = SyncWatch()
            driver.host_state[req] = watch
            threading.Thread(
                target=self._watch,
                args=(driver, req, path, body, watch),
                name="fencelock-etcd-watch",
                daemon=True,
            ).start()
        else:  # cancel
            cancelled = driver.host_state.pop(req, None)
            if cancelled is not None:
                cancelled.cancel()

    def poll(self, driver: SyncDriver) -> None:
        return None

    def finished(self, driver: SyncDriver) -> None:
        watches = list(driver.host_state.values())
        driver.host_state.clear()
        for watch in watches:
            watch.cancel()

    def _post(self, driver: SyncDriver, req: int, path: str, body: bytes, conns: Any) -> None:
        m = driver.m
        try:
            data = self.gateway.post(conns, path, body)
        except GatewayFailure as e:
            kind, message = e.kind, e.message
            driver.post(lambda now: m._failure(now, req, kind, message))
        else:
            driver.post(lambda now: m._body(now, req, data))

    def _watch(
        self, driver: SyncDriver, req: int, path: str, body: bytes, watch: SyncWatch
    ) -> None:
        m = driver.m

        def fail(kind: str, message: str) -> None:
            if not watch.cancelled:
                driver.post(lambda now: m._failure(now, req, kind, message))

        try:
            conn, response = self.gateway.open_watch(path, body)
        except GatewayFailure as e:
            fail(e.kind, e.message)
            return
        try:
            if not watch.attach(conn):
                return
            while True:
                line = response.readline(MAX_LINE)
                if watch.cancelled:
                    return
                if not line:
                    fail("connection", "watch stream ended")
                    return
                if not line.strip():
                    continue
                if driver.post_optional(_line_step(m, req, line)):
                    return
        except Exception as e:
            fail("connection", f"watch stream: {e!r}")
        finally:
            conn.close()
            with driver.lock:
                if driver.host_state.get(req) is watch:
                    del driver.host_state[req]


def _line_step(m: Any, req: int, line: bytes) -> Any:
    """The machine's input for one watch line (``None`` when it does not answer)."""
    return lambda now: m._watch_line(now, req, line)


def _sync_driver(
    base: _Base, host: _SyncHost, machine: _native.EtcdGatewayMachine, name: str
) -> SyncDriver:
    driver = SyncDriver(machine, host, name, base._observe, machine._timeout, machine._release)
    driver.host_state = {}
    return driver


class EtcdLease(SyncLease):
    """A held etcd lock: the same shape as a Redlock lease (``fencing_token``,
    ``valid_until``, ``remaining()``, ``lost``, ``check()``, ``release()``).
    Keep-alives run in the background while it is held; ``valid_until`` moves on
    with each acknowledgement."""

    __slots__ = ("key", "lease_id")

    def __init__(self, driver: SyncDriver, event: dict[str, Any]) -> None:
        super().__init__(driver, event)
        self.key: str = self.info["key"]
        """Our key: ``name/<lowercase hex lease id>`` (Go's layout)."""
        self.lease_id: int = int(self.info["lease"])
        """Our etcd lease."""

    def release(self) -> str:
        """Unlocks: a guarded delete of our key, then the lease revoke. Returns
        ``released``, ``already_expired`` or ``unreachable``."""
        return super().release()


class EtcdLeadership(EtcdLease):
    """A won etcd election: an :class:`EtcdLease` that can proclaim and resign."""

    __slots__ = ()

    def proclaim(self, value: str) -> bool:
        """Sets the leader's value (guarded by our key's create revision). ``True``
        when applied, ``False`` when it got no answer (still leader); raises
        :class:`LockLost` if leadership is gone."""
        value = check_str(value, "value")
        d = self._d
        with lost_if_refused(self.name, lambda: d.lost_reason):
            outcome = d.run(lambda now: d.m._proclaim(now, value), _PROCLAIM_DONE)
        return _proclaimed(self.name, outcome)

    def resign(self) -> str:
        """Gives up leadership (:meth:`release` under its Go name)."""
        return self.release()


class _Observation:
    """What the sync and asyncio observations share: what a queued item means."""

    _CLOSED: Any = object()
    _d: Any
    _closed: bool
    current: Optional[EtcdLeader]

    def _next(self, item: Any, stop: type[Exception]) -> Optional[EtcdLeader]:
        """The leader ``item`` reports; raises ``stop`` once closed,
        :class:`LockNotAcquired` for the observer's ``observe_failed`` event."""
        if item is self._CLOSED:
            self._closed = True
            raise stop
        if isinstance(item, dict):
            self._closed = True
            raise LockNotAcquired(
                LOCK_NOT_ACQUIRED,
                f"observing {self._d.name} failed ({item['reason']})",
                item["reason"],
            )
        leader: Optional[EtcdLeader] = item
        self.current = leader
        return leader


class EtcdObservation(_Observation):
    """The leader of an election as it changes (Go's ``Election.Observe``): iterate
    to get each new leader (``None``: no leader). :meth:`close` (or leaving a
    ``with`` block) stops it."""

    def __init__(self, driver: SyncDriver, first: Optional[EtcdLeader]) -> None:
        self._d = driver
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.current: Optional[EtcdLeader] = first
        """The latest leader reported."""
        self._closed = False

    def _on_event(self, event: dict[str, Any]) -> None:
        if event["type"] == "leader":
            self._queue.put(EtcdLeader.of(event["leader"]))
        elif event["type"] == "observe_failed":
            self._queue.put(event)

    def get(self, timeout: Optional[float] = None) -> Optional[EtcdLeader]:
        """The next leader change; raises ``TimeoutError`` after ``timeout`` seconds
        without one, ``StopIteration`` once closed, :class:`LockNotAcquired` if the
        observer gave up (requests kept failing)."""
        if self._closed:
            raise StopIteration
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no leader change within {timeout} s") from None
        return self._next(item, StopIteration)

    def __iter__(self) -> EtcdObservation:
        return self

    def __next__(self) -> Optional[EtcdLeader]:
        return self.get()

    def close(self) -> None:
        """Stops observing (closes the watch)."""
        d = self._d
        with d.lock:
            if d.state == "observing":
                d.apply(d.release_fn(now_ms()))
        self._queue.put(self._CLOSED)

    def __enter__(self) -> EtcdObservation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _leader_read(name: str, outcome: dict[str, Any]) -> None:
    """Raises :class:`LockNotAcquired` if reading the leader failed."""
    if outcome["type"] == "observe_failed":
        raise LockNotAcquired(
            LOCK_NOT_ACQUIRED,
            f"reading the leader of {name} failed ({outcome['reason']})",
            outcome["reason"],
        )


class _SyncBase(_Base):
    _Host = _SyncHost
    _host: _SyncHost

    def _observer(self, name: str, follow: bool) -> tuple[SyncDriver, dict[str, Any]]:
        machine = self._machine(
            "etcd_observer", {"name": check_str(name, "name"), "follow": follow}
        )
        driver = _sync_driver(self, self._host, machine, name)
        outcome = acquire_sync(driver, lambda _now: machine._drain(), _LEADER_DONE)
        _leader_read(name, outcome)
        return driver, outcome

    def leader(self, name: str) -> Optional[EtcdLeader]:
        """The current leader of election ``name`` (any campaigner's, ours or Go's),
        or ``None``."""
        _, outcome = self._observer(name, False)
        return EtcdLeader.of(outcome["leader"])

    def observe(self, name: str) -> EtcdObservation:
        """Follows the leader of election ``name``: an iterator of leader changes
        (the current leader is :attr:`EtcdObservation.current`)."""
        driver, outcome = self._observer(name, True)
        observation = EtcdObservation(driver, EtcdLeader.of(outcome["leader"]))
        with driver.lock:
            driver.on_event = observation._on_event
        return observation


def _acquired(driver: SyncDriver, outcome: dict[str, Any], name: str) -> None:
    if outcome["type"] != "acquired":
        raise not_acquired(name, outcome, driver.lost_reason)


_OPTIONS_DOC = """
    ``endpoints``: the cluster's gateway endpoints (``"127.0.0.1:2379"``,
    ``"http://host:port"``, ``"https://..."``; a list, or one comma-separated
    str). Options (seconds unless said): ``ttl`` lease TTL in whole seconds (etcd's
    unit, default 10; the server may raise it); ``drift_factor`` clock-drift
    allowance (core default 0.01); ``request_timeout`` per request (core default: a
    third of the validity window, at most 2 s); ``wait`` ``"watch"`` (default: a
    streaming watch on the predecessor, re-read after ``recheck``, default the TTL)
    or ``"poll"`` (read the predecessor every ``poll_interval``, default 0.25);
    ``retry`` (:class:`Retry`); ``rng_seed`` pins the retry jitter; ``on_event(names,
    event)`` sees every core event; ``headers`` are added to every request (e.g.
    ``Authorization``); ``http_timeout`` bounds one HTTP exchange (default 5);
    ``ssl_context`` for ``https`` endpoints.
"""


class EtcdLock(_SyncBase):
    """An etcd lease mutex, wire-compatible with Go's ``concurrency.Mutex``.

    ``locks("orders", timeout=5.0)`` gives a :class:`NamedLock` (a context
    manager); :meth:`acquire` returns an :class:`EtcdLease` directly. Share one
    ``EtcdLock`` between threads.
    """

    __doc__ = (__doc__ or "") + _OPTIONS_DOC

    def __call__(
        self, name: str, *, timeout: Optional[float] = None, try_lock: bool = False
    ) -> NamedLock[EtcdLease]:
        """A :class:`NamedLock` on ``name``: ``timeout`` seconds bound each
        acquisition (``None``: wait in the queue as long as it takes); ``try_lock``
        fails at once (``locked``) when another key holds the lock."""
        name = check_str(name, "name")
        ms = optional_seconds_to_ms(timeout, "timeout")
        return NamedLock(lambda t: self._acquire(name, t, try_lock), name, ms)

    def acquire(
        self, name: str, *, timeout: Optional[float] = None, try_lock: bool = False
    ) -> EtcdLease:
        """Locks ``name`` and returns the lease. Raises :class:`LockNotAcquired`
        (``reason``: ``locked``, ``deadline``, ``cancelled``, ``attempts_exhausted``,
        or ``lost`` when our lease ended while we queued, with ``lost_reason``)."""
        return self._acquire(
            check_str(name, "name"), optional_seconds_to_ms(timeout, "timeout"), try_lock
        )

    def _acquire(self, name: str, timeout: Optional[int], try_lock: bool) -> EtcdLease:
        try_lock = check_bool(try_lock, "try_lock")
        machine = self._machine(
            "etcd_mutex", {"name": name, "timeout": timeout, "try_lock": try_lock}
        )
        driver = _sync_driver(self, self._host, machine, name)
        # A queue place lost before the lock was held ends in acquire_failed{lost}:
        # the machine removes its key and revokes its lease by itself.
        outcome = acquire_sync(driver, lambda _now: machine._drain(), ACQUIRE_DONE)
        _acquired(driver, outcome, name)
        return EtcdLease(driver, outcome)


class EtcdElection(_SyncBase):
    """An etcd election, wire-compatible with Go's ``concurrency.Election``:
    :meth:`campaign` (returns an :class:`EtcdLeadership` once elected),
    :meth:`leader`, :meth:`observe`. Unlike Go, a campaigner whose lease ended
    while queued never becomes leader.
    """

    __doc__ = (__doc__ or "") + _OPTIONS_DOC

    def __call__(
        self, name: str, value: str, *, timeout: Optional[float] = None
    ) -> NamedLock[EtcdLeadership]:
        """A :class:`NamedLock` that campaigns in ``name`` with ``value`` (``with``
        resigns at the end)."""
        name, value = check_str(name, "name"), check_str(value, "value")
        ms = optional_seconds_to_ms(timeout, "timeout")
        return NamedLock(lambda t: self._campaign(name, value, t), name, ms)

    def campaign(self, name: str, value: str, *, timeout: Optional[float] = None) -> EtcdLeadership:
        """Campaigns in ``name`` with ``value`` and returns once elected. Raises
        :class:`LockNotAcquired` (``deadline``, ``cancelled``, ``attempts_exhausted``,
        ``lost``)."""
        return self._campaign(
            check_str(name, "name"),
            check_str(value, "value"),
            optional_seconds_to_ms(timeout, "timeout"),
        )

    def _campaign(self, name: str, value: str, timeout: Optional[int]) -> EtcdLeadership:
        machine = self._machine("etcd_election", {"name": name, "value": value, "timeout": timeout})
        driver = _sync_driver(self, self._host, machine, name)
        outcome = acquire_sync(driver, lambda _now: machine._drain(), ACQUIRE_DONE)
        _acquired(driver, outcome, name)
        return EtcdLeadership(driver, outcome)


# ----- asyncio ---------------------------------------------------------------------------


class _AsyncHost:
    """Runs gateway requests for asyncio drivers, as tasks on the driver's loop."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncPool] = (
            weakref.WeakKeyDictionary()
        )
        self.tasks: set[asyncio.Task[None]] = set()

    def _pool(self, loop: asyncio.AbstractEventLoop) -> AsyncPool:
        pool = self.pools.get(loop)
        if pool is None:
            pool = self.pools[loop] = AsyncPool()
        return pool

    def _spawn(self, driver: AsyncDriver, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = driver.loop.create_task(coro)
        self.tasks.add(task)  # the loop keeps tasks weakly
        task.add_done_callback(self.tasks.discard)
        return task

    def perform(self, driver: AsyncDriver, request: tuple[str, int, Any, Any]) -> None:
        kind, req, path, body = request
        if kind == "post":
            self._spawn(driver, self._post(driver, req, path, body))
        elif kind == "watch":
            driver.host_state[req] = self._spawn(driver, self._watch(driver, req, path, body))
        else:  # cancel
            task = driver.host_state.pop(req, None)
            if task is not None:
                task.cancel()

    def poll(self, driver: AsyncDriver) -> None:
        return None

    def finished(self, driver: AsyncDriver) -> None:
        tasks = list(driver.host_state.values())
        driver.host_state.clear()
        for task in tasks:
            task.cancel()

    async def _post(self, driver: AsyncDriver, req: int, path: str, body: bytes) -> None:
        m = driver.m
        try:
            data = await self.gateway.post_async(self._pool(driver.loop), path, body)
        except GatewayFailure as e:
            kind, message = e.kind, e.message
            driver.feed(lambda now: m._failure(now, req, kind, message))
        else:
            driver.feed(lambda now: m._body(now, req, data))

    async def _watch(self, driver: AsyncDriver, req: int, path: str, body: bytes) -> None:
        m = driver.m

        def on_line(line: bytes) -> bool:
            return driver.feed_optional(lambda now: m._watch_line(now, req, line))

        try:
            await self.gateway.watch_async(path, body, on_line)
        except GatewayFailure as e:
            kind, message = e.kind, e.message
            driver.feed(lambda now: m._failure(now, req, kind, message))
        finally:
            task = asyncio.current_task()
            if driver.host_state.get(req) is task:
                del driver.host_state[req]


def _async_driver(
    base: _Base, host: _AsyncHost, machine: _native.EtcdGatewayMachine, name: str
) -> AsyncDriver:
    driver = AsyncDriver(machine, host, name, base._observe, machine._timeout, machine._release)
    driver.host_state = {}
    return driver


class AsyncEtcdLease(AsyncLease):
    """A held etcd lock (asyncio): the same shape as an :class:`AsyncLease` of
    Redlock; keep-alives run as loop timers while it is held."""

    __slots__ = ("key", "lease_id")

    def __init__(self, driver: AsyncDriver, event: dict[str, Any]) -> None:
        super().__init__(driver, event)
        self.key: str = self.info["key"]
        """Our key: ``name/<lowercase hex lease id>``."""
        self.lease_id: int = int(self.info["lease"])
        """Our etcd lease."""


class AsyncEtcdLeadership(AsyncEtcdLease):
    """A won etcd election (asyncio)."""

    __slots__ = ()

    async def proclaim(self, value: str) -> bool:
        """Sets the leader's value; ``True`` when applied, ``False`` when it got no
        answer; raises :class:`LockLost` if leadership is gone."""
        value = check_str(value, "value")
        d = self._d
        with lost_if_refused(self.name, lambda: d.lost_reason):
            outcome = await d.run(lambda now: d.m._proclaim(now, value), _PROCLAIM_DONE)
        return _proclaimed(self.name, outcome)

    async def resign(self) -> str:
        """Gives up leadership."""
        return await self.release()


class AsyncEtcdObservation(_Observation):
    """The leader of an election as it changes (asyncio): ``async for leader in
    observation``; :meth:`close` stops it."""

    def __init__(self, driver: AsyncDriver, first: Optional[EtcdLeader]) -> None:
        self._d = driver
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self.current: Optional[EtcdLeader] = first
        """The latest leader reported."""
        self._closed = False

    def _on_event(self, event: dict[str, Any]) -> None:
        if event["type"] == "leader":
            self._queue.put_nowait(EtcdLeader.of(event["leader"]))
        elif event["type"] == "observe_failed":
            self._queue.put_nowait(event)

    async def get(self, timeout: Optional[float] = None) -> Optional[EtcdLeader]:
        """The next leader change (see :meth:`EtcdObservation.get`; raises
        ``StopAsyncIteration`` once closed)."""
        if self._closed:
            raise StopAsyncIteration
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no leader change within {timeout} s") from None
        return self._next(item, StopAsyncIteration)

    def __aiter__(self) -> AsyncEtcdObservation:
        return self

    async def __anext__(self) -> Optional[EtcdLeader]:
        return await self.get()

    def close(self) -> None:
        """Stops observing (closes the watch)."""
        d = self._d
        if d.state == "observing":
            d.apply(d.release_fn(now_ms()))
        self._queue.put_nowait(self._CLOSED)

    async def __aenter__(self) -> AsyncEtcdObservation:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class _AsyncBase(_Base):
    _Host = _AsyncHost
    _host: _AsyncHost

    async def _observer(self, name: str, follow: bool) -> tuple[AsyncDriver, dict[str, Any]]:
        machine = self._machine(
            "etcd_observer", {"name": check_str(name, "name"), "follow": follow}
        )
        driver = _async_driver(self, self._host, machine, name)
        outcome = await acquire_async(driver, lambda _now: machine._drain(), _LEADER_DONE)
        _leader_read(name, outcome)
        return driver, outcome

    async def leader(self, name: str) -> Optional[EtcdLeader]:
        """The current leader of election ``name``, or ``None``."""
        _, outcome = await self._observer(name, False)
        return EtcdLeader.of(outcome["leader"])

    async def observe(self, name: str) -> AsyncEtcdObservation:
        """Follows the leader of election ``name``."""
        driver, outcome = await self._observer(name, True)
        observation = AsyncEtcdObservation(driver, EtcdLeader.of(outcome["leader"]))
        driver.on_event = observation._on_event
        return observation


class AsyncEtcdLock(_AsyncBase):
    """An etcd lease mutex (asyncio), wire-compatible with Go's
    ``concurrency.Mutex``: ``async with locks("orders", timeout=5.0) as lease``.
    Same options as :class:`EtcdLock`."""

    __doc__ = (__doc__ or "") + _OPTIONS_DOC

    def __call__(
        self, name: str, *, timeout: Optional[float] = None, try_lock: bool = False
    ) -> AsyncNamedLock[AsyncEtcdLease]:
        """An :class:`AsyncNamedLock` on ``name``."""
        name = check_str(name, "name")
        ms = optional_seconds_to_ms(timeout, "timeout")
        return AsyncNamedLock(lambda t: self._acquire(name, t, try_lock), name, ms)

    async def acquire(
        self, name: str, *, timeout: Optional[float] = None, try_lock: bool = False
    ) -> AsyncEtcdLease:
        """Locks ``name`` and returns the lease (see :meth:`EtcdLock.acquire`).
        Cancelling the caller cancels the machine, which removes its key."""
        return await self._acquire(
            check_str(name, "name"), optional_seconds_to_ms(timeout, "timeout"), try_lock
        )

    async def _acquire(self, name: str, timeout: Optional[int], try_lock: bool) -> AsyncEtcdLease:
        try_lock = check_bool(try_lock, "try_lock")
        machine = self._machine(
            "etcd_mutex", {"name": name, "timeout": timeout, "try_lock": try_lock}
        )
        driver = _async_driver(self, self._host, machine, name)
        outcome = await acquire_async(driver, lambda _now: machine._drain(), ACQUIRE_DONE)
        if outcome["type"] != "acquired":
            raise not_acquired(name, outcome, driver.lost_reason)
        return AsyncEtcdLease(driver, outcome)


class AsyncEtcdElection(_AsyncBase):
    """An etcd election (asyncio), wire-compatible with Go's
    ``concurrency.Election``. Same options as :class:`EtcdLock`."""

    __doc__ = (__doc__ or "") + _OPTIONS_DOC

    def __call__(
        self, name: str, value: str, *, timeout: Optional[float] = None
    ) -> AsyncNamedLock[AsyncEtcdLeadership]:
        """An :class:`AsyncNamedLock` that campaigns in ``name`` with ``value``."""
        name, value = check_str(name, "name"), check_str(value, "value")
        ms = optional_seconds_to_ms(timeout, "timeout")
        return AsyncNamedLock(lambda t: self._campaign(name, value, t), name, ms)

    async def campaign(
        self, name: str, value: str, *, timeout: Optional[float] = None
    ) -> AsyncEtcdLeadership:
        """Campaigns in ``name`` with ``value`` and returns once elected."""
        return await self._campaign(
            check_str(name, "name"),
            check_str(value, "value"),
            optional_seconds_to_ms(timeout, "timeout"),
        )

    async def _campaign(self, name: str, value: str, timeout: Optional[int]) -> AsyncEtcdLeadership:
        machine = self._machine("etcd_election", {"name": name, "value": value, "timeout": timeout})
        driver = _async_driver(self, self._host, machine, name)
        outcome = await acquire_async(driver, lambda _now: machine._drain(), ACQUIRE_DONE)
        if outcome["type"] != "acquired":
            raise not_acquired(name, outcome, driver.lost_reason)
        return AsyncEtcdLeadership(driver, outcome)
