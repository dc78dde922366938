"""What the sync and asyncio Redlock hosts share: value conversion, the config
dict, reply classification, events -> stats / hooks / logging.

Nothing here decides anything about the lock; the core does.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Optional

import redis.exceptions as redis_errors

from . import _native
from .errors import (
    INVALID_INPUT,
    INVALID_STATE,
    LEASE_LOST,
    LOCK_NOT_ACQUIRED,
    InvalidInput,
    LockLost,
    LockNotAcquired,
    UsageError,
)

logger = logging.getLogger("fencelock")

_monotonic_ns = time.monotonic_ns


def now_ms() -> int:
    """The host clock every machine runs on: ``time.monotonic_ns() // 1_000_000``."""
    return _monotonic_ns() // 1_000_000


SCRIPTS: dict[str, tuple[str, str]] = dict(_native.REDLOCK_SCRIPTS)
"""Script name -> (SHA1, Lua source), byte for byte as the core defines them."""

_DEFAULTS: dict[str, Any] = dict(_native.REDLOCK_DEFAULTS)
_DEFAULT_RETRY: dict[str, Any] = dict(_DEFAULTS["retry"])

ReleaseOutcome = Literal["released", "already_expired", "held_by_other", "quorum_unreachable"]
"""How a release ended (never an exception: releasing an expired lease is fine)."""

EventHook = Callable[[tuple[str, ...], dict[str, Any]], None]
"""``on_event(resources, event)``: every core event of every lease, as the vectors' dict."""

# ----- host values -> core values ---------------------------------------------------------


def _type_name(value: object) -> str:
    return type(value).__name__


def seconds_to_ms(value: object, name: str) -> int:
    """Seconds (int or float) -> whole milliseconds, rounded up.

    The value is first rounded to the microsecond (so ``0.1`` is 100 ms, not 101),
    then up to the next millisecond; a positive value never becomes 0 ms. NaN,
    infinities, negative numbers and non-numbers raise ``InvalidInput``. Zero is
    passed on, and the core decides (a zero TTL is ``INVALID_TTL``).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(
            INVALID_INPUT, f"{name} must be a number of seconds, got {_type_name(value)}"
        )
    if isinstance(value, float):
        if math.isnan(value):
            raise InvalidInput(INVALID_INPUT, f"{name} must be a number of seconds, got NaN")
        if math.isinf(value):
            raise InvalidInput(INVALID_INPUT, f"{name} must be finite, got {value}")
    if value < 0:
        raise InvalidInput(INVALID_INPUT, f"{name} must not be negative, got {value}")
    if isinstance(value, int):
        ms = value * 1000
    else:
        micros = round(value * 1_000_000)
        ms = -(-micros // 1000)
        if ms == 0 and value > 0:
            ms = 1
    if ms >= 1 << 63:
        raise InvalidInput(INVALID_INPUT, f"{name} is too large: {value} s")
    return ms


def optional_seconds_to_ms(value: object, name: str) -> Optional[int]:
    """Like :func:`seconds_to_ms`, with ``None`` passed through."""
    return None if value is None else seconds_to_ms(value, name)


def ratio_to_ppm(value: object, name: str) -> int:
    """A fraction (``0.01`` = 1 %) -> parts per million, rounded to the nearest."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(INVALID_INPUT, f"{name} must be a number, got {_type_name(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(INVALID_INPUT, f"{name} must be finite, got {value}")
    if value < 0:
        raise InvalidInput(INVALID_INPUT, f"{name} must not be negative, got {value}")
    ppm = round(value * 1_000_000)
    if ppm >= 1 << 32:
        raise InvalidInput(INVALID_INPUT, f"{name} is too large: {value}")
    return int(ppm)


def check_int(value: object, name: str, *, allow_none: bool = False) -> Optional[int]:
    """A non-negative integer (bools refused)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(INVALID_INPUT, f"{name} must be an int, got {_type_name(value)}")
    if value < 0 or value >= 1 << 64:
        raise InvalidInput(INVALID_INPUT, f"{name} must be between 0 and 2^64-1, got {value}")
    return value


def resource_names(args: tuple[object, ...]) -> list[str]:
    """``lock("a")``, ``lock("a", "b")`` or ``lock(["a", "b"])`` -> names (the core
    checks empty, duplicate, too long, too many)."""
    names: list[str] = []
    for arg in args:
        if isinstance(arg, str):
            names.append(arg)
        elif isinstance(arg, (list, tuple)):
            for item in arg:
                if not isinstance(item, str):
                    raise InvalidInput(
                        INVALID_INPUT, f"resource names must be str, got {_type_name(item)}"
                    )
                names.append(item)
        else:
            raise InvalidInput(INVALID_INPUT, f"resource names must be str, got {_type_name(arg)}")
    return names


@dataclass(frozen=True)
class Retry:
    """When a failed acquisition attempt is retried (times in seconds).

    Defaults are the core's: 10 attempts, exponential 0.1 s doubling up to 1.6 s,
    +/- 0.05 s of jitter. ``max_attempts=None`` retries until the acquire timeout.
    """

    max_attempts: Optional[int] = _DEFAULT_RETRY["max_attempts"]
    base_delay: float = _DEFAULT_RETRY["base_delay"] / 1000
    max_delay: float = _DEFAULT_RETRY["max_delay"] / 1000
    backoff: Literal["exponential", "fixed"] = _DEFAULT_RETRY["backoff"]
    jitter: float = _DEFAULT_RETRY["jitter"] / 1000

    @classmethod
    def fixed(
        cls,
        delay: float,
        jitter: float = 0.0,
        max_attempts: Optional[int] = _DEFAULT_RETRY["max_attempts"],
    ) -> Retry:
        """Every retry waits ``delay`` s, moved by up to ``jitter`` s either way."""
        return cls(max_attempts, delay, delay, "fixed", jitter)

    @classmethod
    def exponential(
        cls,
        base: float = _DEFAULT_RETRY["base_delay"] / 1000,
        max: float = _DEFAULT_RETRY["max_delay"] / 1000,
        jitter: float = _DEFAULT_RETRY["jitter"] / 1000,
        max_attempts: Optional[int] = _DEFAULT_RETRY["max_attempts"],
    ) -> Retry:
        """Retries wait ``base``, ``2 * base``, ... up to ``max`` s, +/- ``jitter`` s."""
        return cls(max_attempts, base, max, "exponential", jitter)

    @classmethod
    def none(cls) -> Retry:
        """One attempt, no retry (a try-lock)."""
        return cls(max_attempts=1)

    def to_core(self) -> dict[str, Any]:
        """The vectors' ``retry`` dict (ms)."""
        if self.backoff not in ("exponential", "fixed"):
            raise InvalidInput(
                INVALID_INPUT, f"backoff must be 'exponential' or 'fixed', got {self.backoff!r}"
            )
        return {
            "max_attempts": check_int(self.max_attempts, "retry.max_attempts", allow_none=True),
            "base_delay": seconds_to_ms(self.base_delay, "retry.base_delay"),
            "max_delay": seconds_to_ms(self.max_delay, "retry.max_delay"),
            "backoff": self.backoff,
            "jitter": seconds_to_ms(self.jitter, "retry.jitter"),
        }


def redlock_config(
    nodes: int,
    *,
    ttl: object,
    retry: Optional[Retry],
    drift_factor: object,
    auto_extend: object,
    node_timeout: object,
    fencing: object,
    namespace: object,
    rng_seed: object,
) -> dict[str, Any]:
    """The vectors' Redlock ``config`` dict; unset options keep the core's defaults."""
    config: dict[str, Any] = {"nodes": nodes, "ttl": seconds_to_ms(ttl, "ttl")}
    set_retry(config, retry)
    set_drift(config, drift_factor)
    config["auto_extend"] = check_bool(auto_extend, "auto_extend")
    if node_timeout is not None:
        config["node_timeout"] = seconds_to_ms(node_timeout, "node_timeout")
    config["fencing"] = check_bool(fencing, "fencing")
    if namespace is not None:
        config["namespace"] = check_str(namespace, "namespace")
    set_seed(config, rng_seed)
    return config


# ----- options every backend shares ---------------------------------------------------------


def check_bool(value: object, name: str) -> bool:
    """A bool (nothing else, not even an int)."""
    if not isinstance(value, bool):
        raise InvalidInput(INVALID_INPUT, f"{name} must be a bool, got {_type_name(value)}")
    return value


def check_str(value: object, name: str) -> str:
    """A str."""
    if not isinstance(value, str):
        raise InvalidInput(INVALID_INPUT, f"{name} must be a str, got {_type_name(value)}")
    return value


def retry_to_core(retry: object) -> dict[str, Any]:
    """A :class:`Retry` -> the vectors' ``retry`` dict."""
    if not isinstance(retry, Retry):
        raise InvalidInput(
            INVALID_INPUT, f"retry must be a fencelock.Retry, got {_type_name(retry)}"
        )
    return retry.to_core()


def set_retry(config: dict[str, Any], retry: object) -> None:
    """``config["retry"]`` from a :class:`Retry` (``None``: the core's default)."""
    if retry is not None:
        config["retry"] = retry_to_core(retry)


def set_drift(config: dict[str, Any], drift_factor: object) -> None:
    """``config["drift_ppm"]`` from a fraction (``None``: the core's default)."""
    if drift_factor is not None:
        config["drift_ppm"] = ratio_to_ppm(drift_factor, "drift_factor")


def set_seed(config: dict[str, Any], rng_seed: object) -> None:
    """``config["rng_seed"]`` (``None``: a fresh seed per acquisition, see
    :func:`with_seed`)."""
    if rng_seed is not None:
        config["rng_seed"] = check_int(rng_seed, "rng_seed")


def with_seed(
    config: dict[str, Any], fixed_seed: bool, seed: Optional[int] = None
) -> dict[str, Any]:
    """The config of one acquisition: ``config`` itself when the user pinned
    ``rng_seed``, else a copy with a fresh 64-bit jitter seed (``seed``, or 8
    bytes from ``os.urandom``)."""
    if fixed_seed:
        return config
    config = dict(config)
    config["rng_seed"] = int.from_bytes(os.urandom(8), "little") if seed is None else seed
    return config


def check_clients(clients: object, want: type, other: type, wrapper: str, hint: str) -> list[Any]:
    """Every client must be a ``want`` (not an ``other``), each a different server."""
    if isinstance(clients, (str, bytes)) or not isinstance(clients, Iterable):
        raise InvalidInput(
            INVALID_INPUT, f"{wrapper} needs a list of clients, got {_type_name(clients)}"
        )
    listed = list(clients)
    seen: dict[Any, int] = {}
    for i, client in enumerate(listed):
        if isinstance(client, other):
            raise InvalidInput(
                INVALID_INPUT,
                f"client {i} is a {type(client).__module__}.{_type_name(client)}: {hint}",
            )
        if not isinstance(client, want):
            raise InvalidInput(
                INVALID_INPUT,
                f"client {i} is a {_type_name(client)}, not a {want.__module__}.{want.__name__}",
            )
        for key in (("id", id(client)), server_identity(client)):
            if key is not None and key in seen:
                raise InvalidInput(
                    INVALID_INPUT,
                    f"clients {seen[key]} and {i} reach the same server; "
                    "every node must be an independent master",
                )
            if key is not None:
                seen[key] = i
    return listed


def server_identity(client: Any) -> Optional[tuple[Any, ...]]:
    """(host, port, db) or (unix path, db) of a redis-py client, when it says."""
    try:
        kwargs: Mapping[str, Any] = client.connection_pool.connection_kwargs
    except AttributeError:
        return None
    if kwargs.get("path"):
        return ("unix", kwargs.get("path"), kwargs.get("db", 0))
    if "host" in kwargs:
        return ("tcp", kwargs.get("host"), kwargs.get("port"), kwargs.get("db", 0))
    return None


def random_value_and_seed() -> tuple[str, int]:
    """A fresh lock value (16 bytes from ``os.urandom``) and a 64-bit jitter seed."""
    random = os.urandom(24)
    return _native.lock_value_from_random(random[:16]), int.from_bytes(random[16:], "little")


# ----- replies -----------------------------------------------------------------------------


def error_kind(exc: BaseException) -> str:
    """The core's node-error kind for an exception a Redis client raised."""
    if isinstance(exc, (redis_errors.TimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(exc, redis_errors.ResponseError):
        return "server"
    if isinstance(exc, redis_errors.InvalidResponse):
        return "protocol"
    return "connection"


Command = tuple[int, int, str, tuple[Any, ...]]
"""A Redlock command: ``(node, req, script, argv)``."""

Job = tuple[Any, Command]
"""A command waiting for its master, with the driver that sent it."""


class RedisNode:
    """What the sync and asyncio senders of one master share: building a batch's
    pipeline and handing its results back (the I/O itself is theirs)."""

    __slots__ = ("client", "reload")

    client: Any
    reload: bool
    """Whether to ``SCRIPT LOAD`` before the next pipeline."""

    def pipeline(self, batch: list[Job]) -> tuple[Any, int]:
        """The batch's pipeline, led by a ``SCRIPT LOAD`` of every script when due,
        and how many replies those loads take."""
        pipe = self.client.pipeline(transaction=False)
        loads = 0
        if self.reload:
            for _, source in SCRIPTS.values():
                pipe.execute_command("SCRIPT", "LOAD", source)
            loads = len(SCRIPTS)
        for _, command in batch:
            pipe.execute_command(*command[3])
        return pipe, loads

    def eval_pipeline(self, batch: list[Job]) -> Any:
        """A pipeline running the batch's commands again with ``EVAL`` (the script's
        source from the core)."""
        pipe = self.client.pipeline(transaction=False)
        for _, (_, _, script, argv) in batch:
            pipe.execute_command("EVAL", SCRIPTS[script][1], *argv[2:])
        return pipe

    def deliver(self, batch: list[Job], results: list[Any], loads: int) -> list[Job]:
        """Hands each result to its lease; returns the ``NOSCRIPT`` failures that can
        run again with ``EVAL``: those after which the batch holds no command of the
        same lease (re-running another one would reorder that lease's commands on
        this master; it counts as a failed request instead)."""
        if loads:
            self.reload = any(isinstance(r, Exception) for r in results[:loads])
        last = {id(driver): i for i, (driver, _) in enumerate(batch)}
        retry = []
        for i, ((driver, command), value) in enumerate(zip(batch, results[loads:])):
            node, req = command[0], command[1]
            if isinstance(value, Exception):
                if isinstance(value, redis_errors.NoScriptError):
                    self.reload = True  # load the scripts before the next pipeline
                    if last[id(driver)] == i:
                        retry.append((driver, command))
                        continue
                driver.on_error(req, node, error_kind(value), str(value))
            else:
                driver.on_reply(req, node, value)
        return retry


def deliver_all(batch: list[Job], results: list[Any]) -> None:
    """Hands each result (a value or the error the server answered) to its lease."""
    for (driver, (node, req, _, _)), value in zip(batch, results):
        if isinstance(value, Exception):
            driver.on_error(req, node, error_kind(value), str(value))
        else:
            driver.on_reply(req, node, value)


def fail_all(batch: list[Job], exc: Exception) -> None:
    """Fails every command of a batch that got no answer (``exc``)."""
    kind, message = error_kind(exc), str(exc) or repr(exc)
    for driver, command in batch:
        driver.on_error(command[1], command[0], kind, message)


# ----- events -> stats, hooks, logs --------------------------------------------------------


@dataclass
class AcquireStats:
    """How one acquisition went (from the core's ``acquired`` event)."""

    latency: float
    """Seconds from the first attempt's start to the outcome."""
    attempts: int
    """Attempts started."""
    contended: int
    """Attempts that met another holder on at least one node."""


def _attempts(stats: Mapping[str, Any]) -> int:
    """Attempts of one acquisition: Redlock and PostgreSQL count them; etcd and
    ZooKeeper count retried requests (one attempt plus its retries)."""
    if "attempts" in stats:
        return int(stats["attempts"])
    return 1 + int(stats.get("retries", 0))


def _contended(stats: Mapping[str, Any]) -> int:
    """Attempts that met another holder (etcd and ZooKeeper: whether we queued)."""
    if "contended" in stats:
        return int(stats["contended"])
    return 1 if stats.get("queued") else 0


def _quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Stats:
    """Counters of one ``Redlock`` / ``AsyncRedlock``, fed by the core's events
    (thread-safe). Latencies and hold times keep the last ``window`` samples."""

    window: int = 4096
    acquired: int = 0
    """Leases acquired."""
    failed: int = 0
    """Acquisitions that ended without a lease."""
    attempts: int = 0
    """Attempts started, over every acquisition."""
    contended: int = 0
    """Attempts that met another holder."""
    extended: int = 0
    """Successful extensions (manual or automatic)."""
    extend_failed: int = 0
    """Extensions that missed the quorum (the lease stayed valid)."""
    lost: int = 0
    """Leases lost (expired, extension failed, rejected)."""
    released: int = 0
    """Releases finished (any outcome)."""
    node_errors: int = 0
    """Requests that failed or timed out (Redlock: on a node)."""
    latencies: deque[float] = field(default_factory=deque)
    """Acquisition latencies (seconds), most recent last."""
    hold_times: deque[float] = field(default_factory=deque)
    """Hold durations (seconds) of released or lost leases, most recent last."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, event: Mapping[str, Any]) -> None:
        """Counts one core event."""
        kind = event["type"]
        with self._lock:
            if kind == "acquired":
                stats = event["stats"]
                self.acquired += 1
                self.attempts += _attempts(stats)
                self.contended += _contended(stats)
                self._push(self.latencies, stats["latency"] / 1000)
            elif kind == "acquire_failed":
                stats = event["stats"]
                self.failed += 1
                self.attempts += _attempts(stats)
                self.contended += _contended(stats)
            elif kind == "released":
                self.released += 1
                self._push(self.hold_times, event["held_for"] / 1000)
            elif kind == "lost":
                self.lost += 1
            elif kind == "extended":
                self.extended += 1
            elif kind == "extend_failed":
                self.extend_failed += 1
            elif kind in ("node_error", "request_error"):
                self.node_errors += 1

    def _push(self, samples: deque[float], value: float) -> None:
        samples.append(value)
        if len(samples) > self.window:
            samples.popleft()

    def latency(self, q: float = 0.5) -> float:
        """Acquisition latency quantile ``q`` (0.5 = median, 0.95 = p95), seconds."""
        with self._lock:
            return _quantile(list(self.latencies), q)

    def snapshot(self) -> dict[str, float]:
        """Every counter plus latency p50 / p95 / max and mean hold time, as a dict
        (for metrics exporters)."""
        with self._lock:
            latencies = list(self.latencies)
            holds = list(self.hold_times)
            out: dict[str, float] = {
                "acquired": self.acquired,
                "failed": self.failed,
                "attempts": self.attempts,
                "contended": self.contended,
                "extended": self.extended,
                "extend_failed": self.extend_failed,
                "lost": self.lost,
                "released": self.released,
                "node_errors": self.node_errors,
            }
        out["latency_p50"] = _quantile(latencies, 0.5)
        out["latency_p95"] = _quantile(latencies, 0.95)
        out["latency_max"] = max(latencies, default=0.0)
        out["hold_time_mean"] = sum(holds) / len(holds) if holds else 0.0
        return out


class Observer:
    """Turns every core event into stats, the user's hook and log records."""

    __slots__ = ("hook", "stats")

    def __init__(self, stats: Stats, hook: Optional[EventHook]) -> None:
        self.stats = stats
        self.hook = hook

    def __call__(self, resources: tuple[str, ...], event: dict[str, Any]) -> None:
        self.stats.record(event)
        kind = event["type"]
        if kind in ("lost", "expiry_warning", "extend_failed", "uncertain"):
            logger.warning("lock %s: %s %s", ",".join(resources), kind, _details(event))
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug("lock %s: %s %s", ",".join(resources), kind, _details(event))
        if self.hook is not None:
            try:
                self.hook(resources, event)
            except Exception:  # a hook must never break the drive loop
                logger.exception("fencelock on_event hook raised")


def _details(event: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in event.items() if k != "type")


# ----- outcomes -> exceptions --------------------------------------------------------------


def not_acquired(
    lock: str,
    event: Mapping[str, Any],
    lost_reason: Optional[str] = None,
    *,
    attempts: bool = False,
) -> LockNotAcquired:
    """``LockNotAcquired`` from the core's ``acquire_failed`` event on ``lock`` (a
    name, or Redlock's resources joined with ``,``). ``lost_reason`` is why a queue
    place was lost (etcd, ZooKeeper: reason ``lost``); ``attempts`` puts the
    attempt count in the message (Redlock)."""
    stats = dict(event.get("stats") or {})
    reason = event.get("reason", "attempts_exhausted")
    lost = lost_reason if reason == "lost" else None
    detail = f", lost: {lost}" if lost else ""
    tried = f"{stats['attempts']} attempt(s) in " if attempts else ""
    message = (
        f"lock {lock} not acquired ({reason}{detail}) after {tried}{stats.get('latency', 0)} ms"
    )
    return LockNotAcquired(LOCK_NOT_ACQUIRED, message, reason, stats, lost)


def lease_lost(lock: str, reason: Optional[str], *, noun: str = "lock") -> LockLost:
    """``LockLost`` for a lock the core declared lost: ``"{noun} {lock} was lost
    ({reason})"`` (Redlock says ``lease on`` its resources)."""
    reason = reason or "expired"
    return LockLost(LEASE_LOST, f"{noun} {lock} was lost ({reason})", reason)


@contextlib.contextmanager
def lost_if_refused(
    lock: str, lost_reason: Callable[[], Optional[str]], *, noun: str = "lock"
) -> Iterator[None]:
    """Turns the core's refusal of an operation on a lost lock (``UsageError``
    ``LEASE_LOST``) into :func:`lease_lost` with ``lost_reason()`` (read after the
    refusal); any other error passes unchanged."""
    try:
        yield
    except UsageError as e:
        if e.code == LEASE_LOST:
            raise lease_lost(lock, lost_reason(), noun=noun) from None
        raise


def not_held(what: str) -> UsageError:
    """``UsageError`` for an operation on a lock that holds no lease."""
    return UsageError(INVALID_STATE, what)
