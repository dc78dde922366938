"""PostgreSQL advisory lock with a fencing token over psycopg 3, sync and asyncio.

The lock is ``pg_try_advisory_lock(hashtextextended(name, 0))`` (plain SQL users
running ``SELECT pg_advisory_lock(hashtextextended('orders', 0))`` exclude us, and
we exclude them); the fencing token is the name's counter in ``fencelock_fence``,
bumped right after the lock is taken. Every statement comes from the core; this
module runs them on one **pinned session**::

    advisory = AdvisoryLock(pool)                  # a pool, a connection, a conninfo str
    with advisory("orders", timeout=5.0) as lease:
        write(lease.fencing_token)                 # lease.lost is set if the session ends

**The session.** Each held lock checks one connection out for its whole life
(from a pool, or the connection you gave, or a new one from a conninfo string or
a factory), used by nothing else meanwhile, in autocommit mode; its statements run
in the order the machine emitted them. Sync: the statements of an acquisition or
a release run on the caller's thread (no hand-off), the checks of a held lock on a
worker thread; a statement that hangs holds its caller until the server or the
network gives up (set ``statement_timeout`` / TCP keepalives on the connection),
and the machine then counts it as timed out. asyncio: the statements run in a
task while the machine's timers keep time. A connection that is
closed or inside a transaction is refused (:class:`InvalidInput`,
``CONNECTION_UNUSABLE``). The statements use ``$1`` placeholders, so they run on a
``psycopg.RawCursor`` (psycopg >= 3.2).

**Giving the connection back.** After a clean end (``released`` / ``not_held``, or
an acquisition that failed without any statement error) the connection goes back
where it came from. Otherwise (a lost lock, ``session_lost``, ``unconfirmed``,
``session_not_pinned``, a failed statement) it is closed: ending the session
releases whatever it may still hold. A session that is not pinned (a
transaction-mode pooler) raises :class:`SessionNotPinned`.

**Poolers and failover.** Transaction-mode poolers (PgBouncer ``pool_mode =
transaction``) and failovers drop session locks; see the project README.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

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
    set_retry,
    set_seed,
    with_seed,
)
from ._drive import (
    ACQUIRE_DONE,
    RELEASE_DONE,
    AsyncDriver,
    AsyncLease,
    AsyncNamedLock,
    NamedLock,
    Step,
    SyncDriver,
    SyncLease,
    acquire_async,
    acquire_sync,
    reply_step,
    step_fns,
)
from ._gateway import Workers
from .errors import (
    CONNECTION_UNUSABLE,
    INVALID_INPUT,
    INVALID_STATE,
    SESSION_NOT_PINNED,
    InvalidInput,
    SessionNotPinned,
    UsageError,
)

if TYPE_CHECKING:
    import psycopg

__all__ = ["AdvisoryLease", "AdvisoryLock", "AsyncAdvisoryLease", "AsyncAdvisoryLock"]

FENCE_TABLE: str = _native.ADVISORY_FENCE_TABLE
"""The table that holds one fencing counter per lock name (created on first use)."""

GIVE_BACK_WAIT = 5.0
"""How long a release waits for the session to hand its connection back (seconds)."""

_CLEAN_RELEASES = frozenset(("released", "not_held"))
_BAD_FAILURES = frozenset(("session_lost", "session_not_pinned"))


def _psycopg() -> Any:
    try:
        import psycopg  # noqa: PLC0415 - optional dependency
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise InvalidInput(
            INVALID_INPUT,
            "the PostgreSQL backend needs psycopg 3: pip install 'fencelock[postgres]'",
        ) from e
    if not hasattr(psycopg, "RawCursor"):  # pragma: no cover
        raise InvalidInput(INVALID_INPUT, "the PostgreSQL backend needs psycopg >= 3.2 (RawCursor)")
    return psycopg


def advisory_config(
    *, request_timeout: object, check_interval: object, retry: Optional[Retry], rng_seed: object
) -> dict[str, Any]:
    """The vectors' advisory ``config`` dict (unset options keep the core's defaults)."""
    config: dict[str, Any] = {}
    if request_timeout is not None:
        config["request_timeout"] = seconds_to_ms(request_timeout, "request_timeout")
    if check_interval is not None:
        config["check_interval"] = seconds_to_ms(check_interval, "check_interval")
    set_retry(config, retry)
    set_seed(config, rng_seed)
    _native.check_config("advisory", config)
    return config


# ----- statements --------------------------------------------------------------------------


def _value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def _error(e: BaseException, conn: Any) -> dict[str, Any]:
    """A psycopg error as the machine's error reply: the connection closed or broke,
    a FATAL error, or SQLSTATE class 08 / 57P is ``connection``; any other error is
    ``server`` with its SQLSTATE."""
    psycopg = _psycopg()
    code = getattr(e, "sqlstate", None) or ""
    diag = getattr(e, "diag", None)
    severity = None
    if diag is not None:
        severity = diag.severity_nonlocalized or diag.severity
    gone = (
        conn.closed
        or conn.broken
        or isinstance(e, psycopg.InterfaceError)
        or code.startswith(("08", "57P"))
        or severity in ("FATAL", "PANIC")
    )
    kind = "connection" if gone else "server"
    return {"type": "error", "kind": kind, "code": code, "message": str(e).strip()}


def _closed() -> dict[str, Any]:
    return {
        "type": "error",
        "kind": "connection",
        "code": "",
        "message": "the connection is closed",
    }


def _execute(conn: Any, sql: str, params: list[Any]) -> dict[str, Any]:
    psycopg = _psycopg()
    if conn.closed:
        return _closed()
    try:
        with psycopg.RawCursor(conn) as cur:
            cur.execute(sql, params)
            row = cur.fetchone() if cur.description is not None else None
    except psycopg.Error as e:
        return _error(e, conn)
    except Exception as e:
        return {"type": "error", "kind": "server", "code": "", "message": repr(e)}
    if row is None:
        return {"type": "done"}
    return {"type": "row", "values": [_value(v) for v in row]}


async def _execute_async(conn: Any, sql: str, params: list[Any]) -> dict[str, Any]:
    psycopg = _psycopg()
    if conn.closed:
        return _closed()
    try:
        async with psycopg.AsyncRawCursor(conn) as cur:
            await cur.execute(sql, params)
            row = await cur.fetchone() if cur.description is not None else None
    except psycopg.Error as e:
        return _error(e, conn)
    except Exception as e:
        return {"type": "error", "kind": "server", "code": "", "message": repr(e)}
    if row is None:
        return {"type": "done"}
    return {"type": "row", "values": [_value(v) for v in row]}


def _usable(conn: Any) -> Optional[str]:
    """Why ``conn`` cannot pin a lock, or ``None``."""
    psycopg = _psycopg()
    if conn.closed:
        return "the connection is closed"
    status = conn.info.transaction_status
    if status != psycopg.pq.TransactionStatus.IDLE:
        return (
            f"the connection is inside a transaction ({status.name}): a session lock taken "
            "there would outlive its rollback; commit or roll back first"
        )
    return None


class _Outcome:
    """What the machine said about the session: whether to close it at the end."""

    __slots__ = ("bad", "errors")

    def __init__(self) -> None:
        self.errors = False
        self.bad = False

    def note(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "request_error":
            self.errors = True
        elif kind == "lost":
            self.bad = True
        elif kind == "released":
            self.bad = self.bad or event["outcome"] not in _CLEAN_RELEASES
        elif kind == "acquire_failed":
            self.bad = self.bad or self.errors or event["reason"] in _BAD_FAILURES


# ----- sync ------------------------------------------------------------------------------

_workers = Workers("fencelock-pg")


class _Session:
    """One pinned session: its connection and its statements, run in order on the
    shared worker threads (one at a time for this session)."""

    def __init__(self, conn: Any, give_back: Callable[[bool], None], autocommit: bool) -> None:
        self.conn = conn
        self._give_back = give_back
        self._autocommit = autocommit
        self.lock = threading.Lock()
        self.jobs: list[Any] = []
        self.running = False
        self.ended = False
        self.returned = threading.Event()
        self.outcome = _Outcome()

    def submit(self, job: Any) -> None:
        with self.lock:
            self.jobs.append(job)
            if self.running:
                return
            self.running = True
        _workers.submit(lambda _conns: self._run())

    def idle(self) -> bool:
        with self.lock:
            return not self.running and not self.jobs

    def _run(self) -> None:
        while True:
            with self.lock:
                if not self.jobs:
                    self.running = False
                    return
                job = self.jobs.pop(0)
            if job is None:
                self._end()
                continue
            driver, req, sql, params = job
            driver.post(reply_step(driver.m, req, _execute(self.conn, sql, params)))
            del driver, job

    def end(self) -> None:
        """No statement will follow: hand the connection back once the ones queued
        ran (closed if the machine's outcome says so)."""
        with self.lock:
            if self.ended:
                return
            self.ended = True
        self.submit(None)

    def abandon(self) -> None:
        """The lease was dropped without a release (its driver was collected): end
        the session, which releases the lock, and hand the connection back."""
        with self.lock:
            if self.ended:
                return
            self.ended = True
        self.outcome.bad = True
        self._end()

    def _end(self) -> None:
        close = self.outcome.bad or self.conn.closed
        try:
            if close:
                with contextlib.suppress(Exception):
                    self.conn.close()
            elif not self._autocommit:
                with contextlib.suppress(Exception):
                    self.conn.autocommit = False
            self._give_back(close)
        except Exception:
            logger.exception("fencelock: handing a PostgreSQL connection back failed")
        finally:
            self.returned.set()


class _SyncSource:
    """Where a lock's connection comes from, and where it goes back."""

    def __init__(self, source: object) -> None:
        psycopg = _psycopg()
        self.single: Any = None
        self.busy = False
        self.lock = threading.Lock()
        self.pool: Any = None
        self.connect: Optional[Callable[[], Any]] = None
        if isinstance(source, psycopg.AsyncConnection):
            raise InvalidInput(
                INVALID_INPUT, "AdvisoryLock needs a sync connection; use AsyncAdvisoryLock"
            )
        if isinstance(source, psycopg.Connection):
            self.single = source
        elif isinstance(source, str):
            conninfo = source
            self.connect = lambda: psycopg.connect(conninfo, autocommit=True)
        elif callable(getattr(source, "getconn", None)) and callable(
            getattr(source, "putconn", None)
        ):
            self.pool = source
        elif callable(source):
            self.connect = source
        else:
            raise InvalidInput(
                INVALID_INPUT,
                "source must be a psycopg.Connection, a pool (getconn / putconn), a conninfo "
                f"str or a callable returning a connection, got {_type_name(source)}",
            )

    def checkout(self) -> _Session:
        psycopg = _psycopg()
        if self.single is not None:
            with self.lock:
                if self.busy:
                    raise UsageError(
                        INVALID_STATE, "this connection already pins another advisory lock"
                    )
                self.busy = True
            conn = self.single

            def give_back(close: bool) -> None:
                with self.lock:
                    self.busy = False

        elif self.pool is not None:
            pool = self.pool
            conn = pool.getconn()

            def give_back(close: bool) -> None:
                pool.putconn(conn)

        else:
            assert self.connect is not None
            conn = self.connect()

            def give_back(close: bool) -> None:
                conn.close()

        if not isinstance(conn, psycopg.Connection):
            give_back(False)
            raise InvalidInput(INVALID_INPUT, f"not a psycopg.Connection: {_type_name(conn)}")
        why = _usable(conn)
        if why is not None:
            give_back(False)
            raise InvalidInput(CONNECTION_UNUSABLE, why)
        autocommit = bool(conn.autocommit)
        if not autocommit:
            conn.autocommit = True
        return _Session(conn, give_back, autocommit)


class _SyncHost:
    def perform(self, driver: SyncDriver, command: dict[str, Any]) -> None:
        session: _Session = driver.host_state
        req, sql, params = command["req"], command["sql"], command["params"]
        if driver.want is not None and session.idle():
            # A caller is driving (acquire, release) and nothing is queued: run the
            # statement now, on the caller's thread, as a sync driver does (no
            # thread hand-off); its result is applied right after this step.
            driver.defer(reply_step(driver.m, req, _execute(session.conn, sql, params)))
            return
        # In the background (checks while held): on the session's worker.
        session.submit((driver, req, sql, params))

    def poll(self, driver: SyncDriver) -> Optional[Callable[[int], Step]]:
        """The connection closed between statements: the session is gone."""
        session: _Session = driver.host_state
        if session.ended or not session.idle() or not session.conn.closed:
            return None
        m = driver.m
        return lambda now: m._step({"type": "session_lost", "now": now})

    def finished(self, driver: SyncDriver) -> None:
        driver.host_state.end()


def _not_pinned(name: str, event: dict[str, Any]) -> SessionNotPinned:
    return SessionNotPinned(
        SESSION_NOT_PINNED,
        f"advisory lock {name}: two statements ran on different backends (a transaction-mode "
        "pooler?); the connection was closed. Use a direct connection or session pooling.",
        "session_not_pinned",
        dict(event.get("stats") or {}),
    )


class AdvisoryLease(SyncLease):
    """A held PostgreSQL advisory lock: the same shape as a Redlock lease.
    ``fencing_token`` is the name's counter; the lock has no TTL (``valid_until``
    is ``math.inf``): the machine checks every ``check_interval`` that the session
    still holds it, and sets ``lost`` when it does not (state ``uncertain`` while a
    check goes unanswered)."""

    __slots__ = ("pid",)

    def __init__(self, driver: SyncDriver, event: dict[str, Any]) -> None:
        super().__init__(driver, event)
        self.pid: int = int(self.info["pid"])
        """The backend (``pg_backend_pid()``) whose session holds the lock."""

    def check(self) -> None:
        """Raises :class:`LockLost` if the lock is lost (:class:`SessionNotPinned`
        for an unpinned session), :class:`UsageError` if it was released."""
        if self._d.lost_reason == "session_not_pinned":
            raise _not_pinned(self.name, {})
        super().check()

    def release(self) -> str:
        """Unlocks (guarded by the backend pid) and hands the connection back.
        Returns ``released``, ``not_held``, ``session_lost`` or ``unconfirmed`` (the
        connection was closed, which releases the lock); raises
        :class:`SessionNotPinned` for a session that is not pinned."""
        d = self._d
        outcome = d.run(d.release_fn, RELEASE_DONE)
        d.host_state.returned.wait(GIVE_BACK_WAIT)
        result = str(outcome.get("outcome", "released"))
        if result == "session_not_pinned":
            raise _not_pinned(self.name, outcome)
        return result


class AdvisoryLock:
    """PostgreSQL advisory locks with fencing tokens over psycopg 3 (sync).

    ``source``: a ``psycopg.Connection`` (one lock at a time on it), a pool with
    ``getconn()`` / ``putconn()`` (``psycopg_pool.ConnectionPool``), a conninfo
    string (a new connection per lock, closed at the end) or a callable returning a
    new connection. Options (seconds): ``request_timeout`` per statement (default
    5), ``check_interval`` between checks of a held lock (default 5), ``retry``
    (:class:`Retry`: between ``busy`` attempts and after failed statements),
    ``rng_seed``, ``on_event(names, event)``.

    ``advisory("orders", timeout=5.0)`` gives a :class:`NamedLock`; :meth:`acquire`
    returns an :class:`AdvisoryLease`.
    """

    def __init__(
        self,
        source: Union[psycopg.Connection[Any], Any],
        *,
        request_timeout: Optional[float] = None,
        check_interval: Optional[float] = None,
        retry: Optional[Retry] = None,
        rng_seed: Optional[int] = None,
        on_event: Optional[EventHook] = None,
    ) -> None:
        self._source = _SyncSource(source)
        self._config = advisory_config(
            request_timeout=request_timeout,
            check_interval=check_interval,
            retry=retry,
            rng_seed=rng_seed,
        )
        self._fixed_seed = rng_seed is not None
        self._host = _SyncHost()
        self.stats = Stats()
        """Counters fed by every machine's events."""
        self._observe = Observer(self.stats, on_event)

    def __call__(
        self, name: str, *, timeout: Optional[float] = None, try_lock: bool = False
    ) -> NamedLock[AdvisoryLease]:
        """A :class:`NamedLock` on ``name`` (``timeout`` seconds per acquisition;
        ``None``: as long as the retry policy allows)."""
        name = check_str(name, "name")
        ms = optional_seconds_to_ms(timeout, "timeout")
        return NamedLock(lambda t: self._acquire(name, t, try_lock), name, ms)

    def acquire(
        self, name: str, *, timeout: Optional[float] = None, try_lock: bool = False
    ) -> AdvisoryLease:
        """Locks ``name`` and returns the lease. Raises :class:`LockNotAcquired`
        (``locked``, ``deadline``, ``cancelled``, ``attempts_exhausted``,
        ``already_held``, ``session_lost``), :class:`SessionNotPinned`,
        :class:`InvalidInput` (``CONNECTION_UNUSABLE``)."""
        return self._acquire(
            check_str(name, "name"), optional_seconds_to_ms(timeout, "timeout"), try_lock
        )

    def _acquire(self, name: str, timeout: Optional[int], try_lock: bool) -> AdvisoryLease:
        try_lock = check_bool(try_lock, "try_lock")
        session = self._source.checkout()
        try:
            machine = _machine(self._config, self._fixed_seed, name, timeout, try_lock)
        except BaseException:
            session.end()
            raise
        tick, release = step_fns(machine)
        driver = SyncDriver(machine, self._host, name, self._observe, tick, release)
        driver.host_state = session
        driver.on_event = session.outcome.note
        # A lease dropped without a release would pin its connection (and the lock)
        # forever: its session ends when the driver is collected.
        weakref.finalize(driver, session.abandon)
        outcome = acquire_sync(driver, lambda _now: machine._drain_step(), ACQUIRE_DONE)
        if outcome["type"] != "acquired":
            session.returned.wait(GIVE_BACK_WAIT)
            if outcome["reason"] == "session_not_pinned":
                raise _not_pinned(name, outcome)
            raise not_acquired(name, outcome, None)
        return AdvisoryLease(driver, outcome)


def _machine(
    config: dict[str, Any], fixed_seed: bool, name: str, timeout: Optional[int], try_lock: bool
) -> Any:
    config = with_seed(config, fixed_seed)
    init = {"now": now_ms(), "name": name, "timeout": timeout, "try_lock": try_lock}
    return _native.Machine("advisory_lock", config, init)


# ----- asyncio ---------------------------------------------------------------------------


class _AsyncSession:
    """One pinned session on an event loop: its statements run in order in one task
    at a time."""

    def __init__(
        self,
        conn: Any,
        give_back: Callable[[bool], Any],
        autocommit: bool,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.conn = conn
        self._give_back = give_back
        self._autocommit = autocommit
        self.loop = loop
        self.jobs: list[Any] = []
        self.task: Optional[asyncio.Task[None]] = None
        self.ended = False
        self.returned = asyncio.Event()
        self.outcome = _Outcome()

    def submit(self, job: Any) -> None:
        self.jobs.append(job)
        if self.task is None:
            self.task = self.loop.create_task(self._run())

    def idle(self) -> bool:
        return self.task is None and not self.jobs

    async def _run(self) -> None:
        try:
            while self.jobs:
                job = self.jobs.pop(0)
                if job is None:
                    await self._end()
                    continue
                driver, req, sql, params = job
                result = await _execute_async(self.conn, sql, params)
                driver.feed(reply_step(driver.m, req, result))
                del driver, job
        finally:
            self.task = None

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self.submit(None)

    def abandon(self) -> None:
        """The lease was dropped without a release: close the session's socket (no
        await possible here), which ends the session and releases the lock. A pool
        cannot be handed the connection back from here; it sees it closed."""
        if self.ended:
            return
        self.ended = True
        with contextlib.suppress(Exception):
            self.conn.pgconn.finish()

    async def _end(self) -> None:
        close = self.outcome.bad or self.conn.closed
        try:
            if close:
                with contextlib.suppress(Exception):
                    await self.conn.close()
            elif not self._autocommit:
                with contextlib.suppress(Exception):
                    await self.conn.set_autocommit(False)
            given = self._give_back(close)
            if asyncio.iscoroutine(given):
                await given
        except Exception:
            logger.exception("fencelock: handing a PostgreSQL connection back failed")
        finally:
            self.returned.set()


class _AsyncSource:
    def __init__(self, source: object) -> None:
        psycopg = _psycopg()
        self.single: Any = None
        self.busy = False
        self.pool: Any = None
        self.connect: Optional[Callable[[], Any]] = None
        if isinstance(source, psycopg.Connection):
            raise InvalidInput(
                INVALID_INPUT, "AsyncAdvisoryLock needs a psycopg.AsyncConnection; use AdvisoryLock"
            )
        if isinstance(source, psycopg.AsyncConnection):
            self.single = source
        elif isinstance(source, str):
            conninfo = source
            self.connect = lambda: psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        elif callable(getattr(source, "getconn", None)) and callable(
            getattr(source, "putconn", None)
        ):
            self.pool = source
        elif callable(source):
            self.connect = source
        else:
            raise InvalidInput(
                INVALID_INPUT,
                "source must be a psycopg.AsyncConnection, an async pool (getconn / putconn), a "
                f"conninfo str or a callable returning a connection, got {_type_name(source)}",
            )

    async def checkout(self) -> _AsyncSession:
        psycopg = _psycopg()
        give_back: Callable[[bool], Any]
        if self.single is not None:
            if self.busy:
                raise UsageError(
                    INVALID_STATE, "this connection already pins another advisory lock"
                )
            self.busy = True
            conn = self.single

            def give_back(close: bool) -> Any:
                self.busy = False

        elif self.pool is not None:
            pool = self.pool
            conn = pool.getconn()
            if asyncio.iscoroutine(conn):
                conn = await conn

            def give_back(close: bool) -> Any:
                return pool.putconn(conn)

        else:
            assert self.connect is not None
            conn = self.connect()
            if asyncio.iscoroutine(conn):
                conn = await conn

            def give_back(close: bool) -> Any:
                return conn.close()

        if not isinstance(conn, psycopg.AsyncConnection):
            given = give_back(False)
            if asyncio.iscoroutine(given):
                await given
            raise InvalidInput(INVALID_INPUT, f"not a psycopg.AsyncConnection: {_type_name(conn)}")
        why = _usable(conn)
        if why is not None:
            given = give_back(False)
            if asyncio.iscoroutine(given):
                await given
            raise InvalidInput(CONNECTION_UNUSABLE, why)
        autocommit = bool(conn.autocommit)
        if not autocommit:
            await conn.set_autocommit(True)
        return _AsyncSession(conn, give_back, autocommit, asyncio.get_running_loop())


class _AsyncHost:
    def perform(self, driver: AsyncDriver, command: dict[str, Any]) -> None:
        session: _AsyncSession = driver.host_state
        session.submit((driver, command["req"], command["sql"], command["params"]))

    def poll(self, driver: AsyncDriver) -> Optional[Callable[[int], Step]]:
        session: _AsyncSession = driver.host_state
        if session.ended or not session.idle() or not session.conn.closed:
            return None
        m = driver.m
        return lambda now: m._step({"type": "session_lost", "now": now})

    def finished(self, driver: AsyncDriver) -> None:
        driver.host_state.end()


class AsyncAdvisoryLease(AsyncLease):
    """A held PostgreSQL advisory lock (asyncio); see :class:`AdvisoryLease`."""

    __slots__ = ("pid",)

    def __init__(self, driver: AsyncDriver, event: dict[str, Any]) -> None:
        super().__init__(driver, event)
        self.pid: int = int(self.info["pid"])
        """The backend whose session holds the lock."""

    def check(self) -> None:
        """Raises :class:`LockLost` if the lock is lost (:class:`SessionNotPinned`
        for an unpinned session), :class:`UsageError` if it was released."""
        if self._d.lost_reason == "session_not_pinned":
            raise _not_pinned(self.name, {})
        super().check()

    async def release(self) -> str:
        """Unlocks and hands the connection back (see :meth:`AdvisoryLease.release`)."""
        d = self._d
        outcome = await d.run(d.release_fn, RELEASE_DONE)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(d.host_state.returned.wait(), GIVE_BACK_WAIT)
        result = str(outcome.get("outcome", "released"))
        if result == "session_not_pinned":
            raise _not_pinned(self.name, outcome)
        return result


class AsyncAdvisoryLock:
    """PostgreSQL advisory locks with fencing tokens over psycopg 3 (asyncio):
    ``source`` is a ``psycopg.AsyncConnection``, an async pool
    (``psycopg_pool.AsyncConnectionPool``), a conninfo string or a callable returning
    (or awaiting to) an ``AsyncConnection``. Same options as :class:`AdvisoryLock`."""

    def __init__(
        self,
        source: Union[psycopg.AsyncConnection[Any], Any],
        *,
        request_timeout: Optional[float] = None,
        check_interval: Optional[float] = None,
        retry: Optional[Retry] = None,
        rng_seed: Optional[int] = None,
        on_event: Optional[EventHook] = None,
    ) -> None:
        self._source = _AsyncSource(source)
        self._config = advisory_config(
            request_timeout=request_timeout,
            check_interval=check_interval,
            retry=retry,
            rng_seed=rng_seed,
        )
        self._fixed_seed = rng_seed is not None
        self._host = _AsyncHost()
        self.stats = Stats()
        """Counters fed by every machine's events."""
        self._observe = Observer(self.stats, on_event)

    def __call__(
        self, name: str, *, timeout: Optional[float] = None, try_lock: bool = False
    ) -> AsyncNamedLock[AsyncAdvisoryLease]:
        """An :class:`AsyncNamedLock` on ``name``."""
        name = check_str(name, "name")
        ms = optional_seconds_to_ms(timeout, "timeout")
        return AsyncNamedLock(lambda t: self._acquire(name, t, try_lock), name, ms)

    async def acquire(
        self, name: str, *, timeout: Optional[float] = None, try_lock: bool = False
    ) -> AsyncAdvisoryLease:
        """Locks ``name`` and returns the lease (see :meth:`AdvisoryLock.acquire`)."""
        return await self._acquire(
            check_str(name, "name"), optional_seconds_to_ms(timeout, "timeout"), try_lock
        )

    async def _acquire(
        self, name: str, timeout: Optional[int], try_lock: bool
    ) -> AsyncAdvisoryLease:
        try_lock = check_bool(try_lock, "try_lock")
        session = await self._source.checkout()
        try:
            machine = _machine(self._config, self._fixed_seed, name, timeout, try_lock)
        except BaseException:
            session.end()
            raise
        tick, release = step_fns(machine)
        driver = AsyncDriver(machine, self._host, name, self._observe, tick, release)
        driver.host_state = session
        driver.on_event = session.outcome.note
        weakref.finalize(driver, session.abandon)
        outcome = await acquire_async(driver, lambda _now: machine._drain_step(), ACQUIRE_DONE)
        if outcome["type"] != "acquired":
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(session.returned.wait(), GIVE_BACK_WAIT)
            if outcome["reason"] == "session_not_pinned":
                raise _not_pinned(name, outcome)
            raise not_acquired(name, outcome, None)
        return AsyncAdvisoryLease(driver, outcome)
