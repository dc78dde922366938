"""ZooKeeper lock and election over kazoo (the ephemeral-sequential recipe; the
fencing token is our node's ``czxid``), sync, and asyncio through a facade.

The machines live inside the :class:`kazoo.client.KazooClient` session you pass:
each command is one kazoo call, made at once and in emission order on that client
(``create``, ``ensure_path``, ``get_children`` without a watch, ``get`` with a
watch, ``exists``, ``delete``); every reply and watch goes back to the machine that
made the call; the client's state changes reach every live machine on it
(``SUSPENDED`` -> disconnected, ``CONNECTED`` -> connected in the current session,
``LOST`` -> session expired)::

    client = KazooClient(hosts="127.0.0.1:2181", timeout=10.0)
    locks = ZooKeeperLock(client)          # before client.start(): see session_timeout
    client.start()
    with locks("/locks/orders", timeout=5.0) as lease:
        write(lease.fencing_token)         # lease.lost is set if the session ends

asyncio: kazoo has no asyncio support (its calls complete on its own threads), so
:class:`AsyncZooKeeperLock` / :class:`AsyncZooKeeperElection` drive the machines on
the event loop and take kazoo's completions, watches and state changes over with
``loop.call_soon_threadsafe``; kazoo's calls themselves never block.

**Session timeout.** The machine's validity counts from the session timeout the
server *negotiated*. kazoo keeps only the one it asked for
(``client._session_timeout``); the server may lower it (to at most 20 ticks,
40 s by default). A ``ZooKeeperLock`` built before ``client.start()`` reads the
negotiated value from the connect reply (and again on every reconnect); on a
client that was already connected it falls back to the requested value, which is
only safe when that is at most the server's ``maxSessionTimeout``.
"""

from __future__ import annotations

import os
import threading
import weakref
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Callable, Optional

from . import _native
from ._common import (
    EventHook,
    Observer,
    Retry,
    Stats,
    _type_name,
    check_bool,
    check_str,
    logger,
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
    reply_step,
    step_fns,
)
from .errors import INVALID_INPUT, INVALID_STATE, InvalidInput, UsageError

if TYPE_CHECKING:
    from kazoo.client import KazooClient  # type: ignore[import-untyped]

__all__ = [
    "AsyncZooKeeperElection",
    "AsyncZooKeeperLease",
    "AsyncZooKeeperLock",
    "AsyncZooKeeperLeadership",
    "ZooKeeperElection",
    "ZooKeeperLeadership",
    "ZooKeeperLease",
    "ZooKeeperLock",
]

DEFAULT_MAX_SESSION_TIMEOUT = 40_000
"""ZooKeeper's default ``maxSessionTimeout``: 20 ticks of the default 2 s."""

U64 = (1 << 64) - 1
"""Session ids and zxids are signed longs in kazoo; the core reads them as u64."""

_KAZOO: Any = None


def _kz() -> Any:
    """kazoo, imported on first use (an optional dependency)."""
    global _KAZOO
    if _KAZOO is None:
        try:
            # ruff: noqa: PLC0415 (kazoo is optional: imported here, once)
            from kazoo import exceptions  # type: ignore[import-untyped]
            from kazoo.client import KazooClient
            from kazoo.handlers.threading import KazooTimeoutError  # type: ignore[import-untyped]
            from kazoo.protocol.serialization import Connect  # type: ignore[import-untyped]
            from kazoo.protocol.states import (  # type: ignore[import-untyped]
                Callback,
                EventType,
                KazooState,
            )
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise InvalidInput(
                INVALID_INPUT,
                "the ZooKeeper backend needs kazoo: pip install 'fencelock[zookeeper]'",
            ) from e
        _KAZOO = SimpleNamespace(
            exceptions=exceptions,
            KazooClient=KazooClient,
            KazooTimeoutError=KazooTimeoutError,
            Callback=Callback,
            Connect=Connect,
            EventType=EventType,
            KazooState=KazooState,
        )
    return _KAZOO


def _u64(value: int) -> str:
    return str(value & U64)


def zookeeper_config(
    *,
    drift_factor: object,
    request_timeout: object,
    recheck: object,
    retry: Optional[Retry],
    rng_seed: object,
) -> dict[str, Any]:
    """The vectors' ZooKeeper ``config`` dict (unset options keep the core's defaults)."""
    config: dict[str, Any] = {}
    set_drift(config, drift_factor)
    if request_timeout is not None:
        config["request_timeout"] = seconds_to_ms(request_timeout, "request_timeout")
    if recheck is not None:
        config["recheck"] = seconds_to_ms(recheck, "recheck")
    set_retry(config, retry)
    set_seed(config, rng_seed)
    return config


# ----- the client's session ----------------------------------------------------------------


class _Session:
    """One KazooClient as the machines see it: the negotiated session timeout and
    the live drivers, to which every state change goes. Shared by every lock and
    election on that client."""

    def __init__(self, client: Any) -> None:
        Connect = _kz().Connect
        self.client = weakref.ref(client)
        self.negotiated: Optional[int] = None
        self.warned = False
        self.drivers: weakref.WeakSet[Any] = weakref.WeakSet()
        self.lock = threading.Lock()
        connection = getattr(client, "_connection", None)
        invoke = getattr(connection, "_invoke", None)
        if invoke is not None and not getattr(invoke, "_fencelock", False):
            session = weakref.ref(self)

            def reading_invoke(timeout: Any, request: Any, xid: Any = None) -> Any:
                result = invoke(timeout, request, xid)
                if isinstance(request, Connect) and isinstance(result, tuple) and result:
                    negotiated = getattr(result[0], "time_out", None)
                    s = session()
                    if s is not None and isinstance(negotiated, int) and negotiated > 0:
                        s.negotiated = negotiated
                return result

            reading_invoke._fencelock = True  # type: ignore[attr-defined]
            setattr(connection, "_invoke", reading_invoke)  # noqa: B010
        client.add_listener(self._on_state)

    def session_timeout(self, client: Any) -> int:
        """The negotiated timeout when the connect reply was seen, else the
        requested one."""
        if self.negotiated is not None:
            return self.negotiated
        requested = int(client._session_timeout)
        if requested > DEFAULT_MAX_SESSION_TIMEOUT and not self.warned:
            self.warned = True
            logger.warning(
                "fencelock: the ZooKeeper session timeout the server negotiated is unknown "
                "(build ZooKeeperLock / ZooKeeperElection before client.start()); counting "
                "with the requested %d ms, above ZooKeeper's default maximum of %d ms",
                requested,
                DEFAULT_MAX_SESSION_TIMEOUT,
            )
        return requested

    def add(self, driver: Any) -> None:
        with self.lock:
            self.drivers.add(driver)

    def remove(self, driver: Any) -> None:
        with self.lock:
            self.drivers.discard(driver)

    def _on_state(self, state: str) -> None:
        """kazoo's state listener (its connection thread): every live machine on the
        client gets the change. Never blocks on the network."""
        KazooState = _kz().KazooState
        client = self.client()
        if client is None:
            return
        if state == KazooState.SUSPENDED:
            change: dict[str, Any] = {"type": "disconnected"}
        elif state == KazooState.CONNECTED:
            client_id = client.client_id
            if client_id is None:
                return
            change = {"type": "connected", "session": _u64(client_id[0])}
        elif state == KazooState.LOST:
            change = {"type": "session_expired"}
        else:
            return
        # Delivered from kazoo's callback thread (where watches arrive too), so the
        # connection thread never waits for a machine's lock.
        client.handler.dispatch_callback(_kz().Callback("session", self._deliver, (change,)))

    def _deliver(self, change: dict[str, Any]) -> None:
        with self.lock:
            drivers = list(self.drivers)
        for driver in drivers:
            m = driver.m
            driver.post(lambda now, m=m: m._step({**change, "now": now}))


_sessions: weakref.WeakKeyDictionary[Any, _Session] = weakref.WeakKeyDictionary()
_sessions_lock = threading.Lock()


def _session(client: Any) -> _Session:
    with _sessions_lock:
        session = _sessions.get(client)
        if session is None:
            session = _sessions[client] = _Session(client)
        return session


def _error(exc: BaseException) -> dict[str, Any]:
    """A kazoo exception as the machine's error reply."""
    kz = _kz()
    ke = kz.exceptions
    KazooTimeoutError = kz.KazooTimeoutError
    if isinstance(exc, ke.NoNodeError):
        kind = "no_node"
    elif isinstance(exc, ke.NodeExistsError):
        kind = "node_exists"
    elif isinstance(exc, (ke.ConnectionLoss, ke.ConnectionClosedError)):
        kind = "connection"
    elif isinstance(exc, ke.SessionExpiredError):
        kind = "session_expired"
    elif isinstance(exc, (ke.OperationTimeoutError, KazooTimeoutError)):
        kind = "timeout"
    else:
        kind = "server"
    return {"type": "error", "kind": kind, "message": f"{type(exc).__name__}: {exc}"}


def _stat(stat: Any) -> dict[str, str]:
    return {"czxid": _u64(stat.czxid), "ephemeral_owner": _u64(stat.ephemeralOwner)}


class _Host:
    """Makes the kazoo call for each command, at once and in emission order, and
    posts the reply (and a ``get`` watch) to the machine that made it."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.session = _session(client)

    def perform(self, driver: Any, command: dict[str, Any]) -> None:
        EventType = _kz().EventType
        client = self.client
        kind = command["type"]
        req = command["req"]
        path = command["path"]
        m = driver.m

        def reply(result: dict[str, Any]) -> None:
            driver.post(reply_step(m, req, result))

        def done(convert: Callable[[Any], dict[str, Any]]) -> Callable[[Any], None]:
            def completion(async_result: Any) -> None:
                exc = async_result.exception
                reply(_error(exc) if exc is not None else convert(async_result.value))

            return completion

        try:
            if kind == "create":
                pending = client.create_async(
                    path,
                    command["data"].encode(),
                    ephemeral=True,
                    sequence=True,
                    include_data=True,
                )
                pending.rawlink(
                    done(lambda v: {"type": "created", "path": v[0], "stat": _stat(v[1])})
                )
            elif kind == "ensure_path":
                client.ensure_path_async(path).rawlink(done(lambda _: {"type": "ok"}))
            elif kind == "get_children":
                client.get_children_async(path).rawlink(
                    done(lambda v: {"type": "children", "children": list(v)})
                )
            elif kind == "get_data":
                kinds = {
                    EventType.CREATED: "created",
                    EventType.DELETED: "deleted",
                    EventType.CHANGED: "data_changed",
                    EventType.CHILD: "children_changed",
                }

                def watcher(event: Any) -> None:
                    change = kinds.get(event.type)
                    if change is None:
                        return  # a session event: the state listener reports it
                    driver.post(
                        lambda now: m._step(
                            {"type": "watch", "now": now, "req": req, "event": change}
                        )
                    )

                client.get_async(path, watch=watcher).rawlink(
                    done(lambda v: {"type": "stat", "stat": _stat(v[1])})
                )
            elif kind == "exists":

                def exists(stat: Any) -> dict[str, Any]:
                    if stat is None:
                        return {"type": "error", "kind": "no_node", "message": "no node"}
                    return {"type": "stat", "stat": _stat(stat)}

                client.exists_async(path).rawlink(done(exists))
            elif kind == "delete":
                client.delete_async(path).rawlink(done(lambda _: {"type": "ok"}))
            else:
                # A newer core's command: no reply; the machine's request timeout
                # reports it.
                logger.error("fencelock: ZooKeeper command %r is not known here", kind)
        except Exception as e:  # kazoo refused the call itself (a closed client, ...)
            driver.defer(reply_step(m, req, _error(e)))

    def poll(self, driver: Any) -> None:
        return None

    def finished(self, driver: Any) -> None:
        self.session.remove(driver)


class _Base:
    """What every ZooKeeper lock and election class shares."""

    def __init__(
        self,
        client: KazooClient,
        *,
        drift_factor: Optional[float] = None,
        request_timeout: Optional[float] = None,
        recheck: Optional[float] = None,
        retry: Optional[Retry] = None,
        rng_seed: Optional[int] = None,
        on_event: Optional[EventHook] = None,
    ) -> None:
        if not isinstance(client, _kz().KazooClient):
            raise InvalidInput(
                INVALID_INPUT,
                f"client must be a kazoo.client.KazooClient, got {_type_name(client)}",
            )
        self.client = client
        """The kazoo client whose session the locks live in."""
        self._config = zookeeper_config(
            drift_factor=drift_factor,
            request_timeout=request_timeout,
            recheck=recheck,
            retry=retry,
            rng_seed=rng_seed,
        )
        _native.check_config("zookeeper", self._config)
        self._fixed_seed = rng_seed is not None
        self._host = _Host(client)
        self.stats = Stats()
        """Counters fed by every machine's events."""
        self._observe = Observer(self.stats, on_event)

    @property
    def session_timeout(self) -> float:
        """The session timeout the machines count with, in seconds: the negotiated
        one when the connect reply was seen, else the requested one."""
        return self._host.session.session_timeout(self.client) / 1000

    def _machine(self, kind: str, init: dict[str, Any]) -> Any:
        client_id = self.client.client_id
        if client_id is None:
            raise UsageError(
                INVALID_STATE, f"the KazooClient is not connected (state {self.client.state})"
            )
        config = with_seed(self._config, self._fixed_seed)
        init["now"] = now_ms()
        init["guid"] = _native.lock_value_from_random(os.urandom(16))
        init["session"] = _u64(client_id[0])
        init["session_timeout"] = self._host.session.session_timeout(self.client)
        return _native.Machine(kind, config, init)


_OPTIONS_DOC = """
    ``client``: a :class:`kazoo.client.KazooClient` (build the lock object before
    ``client.start()`` so the negotiated session timeout is known). Options
    (seconds): ``drift_factor`` clock-drift allowance (core default 0.01);
    ``request_timeout`` per call (core default: a third of the validity window, at
    most 2 s); ``recheck`` re-list after this long without a watch notification
    (default: the session timeout); ``retry`` (:class:`Retry`); ``rng_seed``;
    ``on_event(names, event)``.
"""


# ----- sync ------------------------------------------------------------------------------


class ZooKeeperLease(SyncLease):
    """A held ZooKeeper lock: the same shape as a Redlock lease. ``fencing_token``
    is our node's czxid (an int). While the connection is down the state is
    ``uncertain`` (``remaining()`` is 0); the lock is ``lost`` at ``valid_until``
    unless the session is confirmed before."""

    __slots__ = ("node", "session_id")

    def __init__(self, driver: SyncDriver, event: dict[str, Any]) -> None:
        super().__init__(driver, event)
        self.node: str = self.info["path"]
        """Our node: ``<path>/<guid>-lock-<sequence>``."""
        self.session_id: int = int(self.info["session"])
        """The session that owns our node."""

    def release(self) -> str:
        """Deletes our node (retried until ZooKeeper confirms or the session is
        gone; never timed out). Returns ``released`` or ``already_expired``."""
        return super().release()


class ZooKeeperLeadership(ZooKeeperLease):
    """A won ZooKeeper election."""

    __slots__ = ()

    def resign(self) -> str:
        """Gives up leadership (deletes our node)."""
        return self.release()


def _sync_acquire(
    base: _Base, kind: str, init: dict[str, Any], name: str
) -> tuple[SyncDriver, dict[str, Any]]:
    machine = base._machine(kind, init)
    tick, release = step_fns(machine)
    driver = SyncDriver(machine, base._host, name, base._observe, tick, release)
    base._host.session.add(driver)
    # A queue place lost before the lock was held ends in acquire_failed{lost}:
    # the machine deletes its node by itself.
    outcome = acquire_sync(driver, lambda _now: machine._drain_step(), ACQUIRE_DONE)
    if outcome["type"] != "acquired":
        raise not_acquired(name, outcome, driver.lost_reason)
    return driver, outcome


class ZooKeeperLock(_Base):
    """A ZooKeeper lock on the ephemeral-sequential recipe over a kazoo client:
    ``locks("/locks/orders", timeout=5.0)`` gives a :class:`NamedLock`;
    :meth:`acquire` returns a :class:`ZooKeeperLease`. Share one ``ZooKeeperLock``
    between threads."""

    __doc__ = (__doc__ or "") + _OPTIONS_DOC

    def __call__(
        self, path: str, *, timeout: Optional[float] = None, try_lock: bool = False, value: str = ""
    ) -> NamedLock[ZooKeeperLease]:
        """A :class:`NamedLock` on lock path ``path`` (``timeout`` seconds per
        acquisition, ``None``: as long as it takes)."""
        path = check_str(path, "path")
        ms = optional_seconds_to_ms(timeout, "timeout")
        return NamedLock(lambda t: self._acquire(path, t, try_lock, value), path, ms)

    def acquire(
        self, path: str, *, timeout: Optional[float] = None, try_lock: bool = False, value: str = ""
    ) -> ZooKeeperLease:
        """Locks ``path`` (its parent nodes are created if missing) and returns the
        lease. ``value`` is our node's data (for humans). Raises
        :class:`LockNotAcquired` (``locked``, ``deadline``, ``cancelled``,
        ``attempts_exhausted``, ``lost``)."""
        return self._acquire(
            check_str(path, "path"), optional_seconds_to_ms(timeout, "timeout"), try_lock, value
        )

    def _acquire(
        self, path: str, timeout: Optional[int], try_lock: bool, value: str
    ) -> ZooKeeperLease:
        try_lock = check_bool(try_lock, "try_lock")
        init = {
            "path": path,
            "timeout": timeout,
            "try_lock": try_lock,
            "value": check_str(value, "value"),
        }
        driver, outcome = _sync_acquire(self, "zookeeper_lock", init, path)
        return ZooKeeperLease(driver, outcome)


class ZooKeeperElection(_Base):
    """A ZooKeeper leader election on the same recipe: :meth:`campaign` returns a
    :class:`ZooKeeperLeadership` once our node is the lowest (and owned by our
    session)."""

    __doc__ = (__doc__ or "") + _OPTIONS_DOC

    def __call__(
        self, path: str, value: str, *, timeout: Optional[float] = None
    ) -> NamedLock[ZooKeeperLeadership]:
        """A :class:`NamedLock` that campaigns under ``path`` with ``value``."""
        path, value = check_str(path, "path"), check_str(value, "value")
        ms = optional_seconds_to_ms(timeout, "timeout")
        return NamedLock(lambda t: self._campaign(path, value, t), path, ms)

    def campaign(
        self, path: str, value: str, *, timeout: Optional[float] = None
    ) -> ZooKeeperLeadership:
        """Campaigns under ``path`` with ``value`` (our node's data) and returns once
        elected."""
        return self._campaign(
            check_str(path, "path"),
            check_str(value, "value"),
            optional_seconds_to_ms(timeout, "timeout"),
        )

    def _campaign(self, path: str, value: str, timeout: Optional[int]) -> ZooKeeperLeadership:
        init = {"path": path, "value": value, "timeout": timeout}
        driver, outcome = _sync_acquire(self, "zookeeper_election", init, path)
        return ZooKeeperLeadership(driver, outcome)


# ----- asyncio ---------------------------------------------------------------------------


class AsyncZooKeeperLease(AsyncLease):
    """A held ZooKeeper lock (asyncio)."""

    __slots__ = ("node", "session_id")

    def __init__(self, driver: AsyncDriver, event: dict[str, Any]) -> None:
        super().__init__(driver, event)
        self.node: str = self.info["path"]
        """Our node."""
        self.session_id: int = int(self.info["session"])
        """The session that owns our node."""


class AsyncZooKeeperLeadership(AsyncZooKeeperLease):
    """A won ZooKeeper election (asyncio)."""

    __slots__ = ()

    async def resign(self) -> str:
        """Gives up leadership."""
        return await self.release()


async def _async_acquire(
    base: _Base, kind: str, init: dict[str, Any], name: str
) -> tuple[AsyncDriver, dict[str, Any]]:
    machine = base._machine(kind, init)
    tick, release = step_fns(machine)
    driver = AsyncDriver(machine, base._host, name, base._observe, tick, release)
    base._host.session.add(driver)
    outcome = await acquire_async(driver, lambda _now: machine._drain_step(), ACQUIRE_DONE)
    if outcome["type"] != "acquired":
        raise not_acquired(name, outcome, driver.lost_reason)
    return driver, outcome


class AsyncZooKeeperLock(_Base):
    """A ZooKeeper lock for asyncio code, over a kazoo client (kazoo's calls
    complete on its threads; the machines run on the event loop):
    ``async with locks("/locks/orders", timeout=5.0) as lease``."""

    __doc__ = (__doc__ or "") + _OPTIONS_DOC

    def __call__(
        self, path: str, *, timeout: Optional[float] = None, try_lock: bool = False, value: str = ""
    ) -> AsyncNamedLock[AsyncZooKeeperLease]:
        """An :class:`AsyncNamedLock` on lock path ``path``."""
        path = check_str(path, "path")
        ms = optional_seconds_to_ms(timeout, "timeout")
        return AsyncNamedLock(lambda t: self._acquire(path, t, try_lock, value), path, ms)

    async def acquire(
        self, path: str, *, timeout: Optional[float] = None, try_lock: bool = False, value: str = ""
    ) -> AsyncZooKeeperLease:
        """Locks ``path`` and returns the lease (see :meth:`ZooKeeperLock.acquire`)."""
        return await self._acquire(
            check_str(path, "path"), optional_seconds_to_ms(timeout, "timeout"), try_lock, value
        )

    async def _acquire(
        self, path: str, timeout: Optional[int], try_lock: bool, value: str
    ) -> AsyncZooKeeperLease:
        try_lock = check_bool(try_lock, "try_lock")
        init = {
            "path": path,
            "timeout": timeout,
            "try_lock": try_lock,
            "value": check_str(value, "value"),
        }
        driver, outcome = await _async_acquire(self, "zookeeper_lock", init, path)
        return AsyncZooKeeperLease(driver, outcome)


class AsyncZooKeeperElection(_Base):
    """A ZooKeeper leader election for asyncio code."""

    __doc__ = (__doc__ or "") + _OPTIONS_DOC

    def __call__(
        self, path: str, value: str, *, timeout: Optional[float] = None
    ) -> AsyncNamedLock[AsyncZooKeeperLeadership]:
        """An :class:`AsyncNamedLock` that campaigns under ``path`` with ``value``."""
        path, value = check_str(path, "path"), check_str(value, "value")
        ms = optional_seconds_to_ms(timeout, "timeout")
        return AsyncNamedLock(lambda t: self._campaign(path, value, t), path, ms)

    async def campaign(
        self, path: str, value: str, *, timeout: Optional[float] = None
    ) -> AsyncZooKeeperLeadership:
        """Campaigns under ``path`` with ``value`` and returns once elected."""
        return await self._campaign(
            check_str(path, "path"),
            check_str(value, "value"),
            optional_seconds_to_ms(timeout, "timeout"),
        )

    async def _campaign(
        self, path: str, value: str, timeout: Optional[int]
    ) -> AsyncZooKeeperLeadership:
        init = {"path": path, "value": value, "timeout": timeout}
        driver, outcome = await _async_acquire(self, "zookeeper_election", init, path)
        return AsyncZooKeeperLeadership(driver, outcome)
