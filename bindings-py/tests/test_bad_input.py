"""Bad input raises the typed exception with its stable code; nothing crashes the
interpreter (no panic crosses into Python). No servers needed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import pickle
import random
import sqlite3
from typing import Any, Callable

import pytest
import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry as RedisRetry

from fencelock import (
    AsyncRedlock,
    ConfigError,
    FencedWriteFailed,
    FenceGuard,
    FencelockError,
    InvalidInput,
    LockLost,
    RedisFenceGuard,
    Redlock,
    Retry,
    SqlFenceGuard,
    UsageError,
    _native,
    lowlevel,
)

from conftest import fake_async_clients, fake_clients

NAN = float("nan")
INF = float("inf")


def raises(cls: type[FencelockError], code: str, fn: Callable[[], Any]) -> FencelockError:
    with pytest.raises(cls) as raised:
        fn()
    assert raised.value.code == code, raised.value
    assert str(raised.value).startswith(f"[{code}]")
    return raised.value


def make(**kwargs: Any) -> Callable[[], Any]:
    return lambda: Redlock(fake_clients(), **kwargs)


# ----- Redlock options -------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", ["10", None, [], True, b"1", object()])
def test_ttl_of_the_wrong_type(ttl: Any) -> None:
    raises(InvalidInput, "INVALID_INPUT", make(ttl=ttl))


@pytest.mark.parametrize("ttl", [NAN, INF, -INF, -1, -0.5])
def test_ttl_nan_infinite_or_negative(ttl: float) -> None:
    raises(InvalidInput, "INVALID_INPUT", make(ttl=ttl))


@pytest.mark.parametrize(
    ("ttl", "code"),
    [(0, "INVALID_TTL"), (0.0, "INVALID_TTL"), (0.001, "TTL_TOO_SHORT"), (1e7, "INVALID_TTL")],
)
def test_ttl_the_core_refuses(ttl: float, code: str) -> None:
    raises(ConfigError, code, make(ttl=ttl))


def test_seconds_round_up_to_whole_milliseconds() -> None:
    assert Redlock(fake_clients(), ttl=0.1).params["ttl"] == 100
    assert Redlock(fake_clients(), ttl=2.0001).params["ttl"] == 2001
    assert Redlock(fake_clients(), ttl=3).params["ttl"] == 3000


@pytest.mark.parametrize(
    ("kwargs", "cls", "code"),
    [
        ({"drift_factor": NAN}, InvalidInput, "INVALID_INPUT"),
        ({"drift_factor": -0.01}, InvalidInput, "INVALID_INPUT"),
        ({"drift_factor": "1%"}, InvalidInput, "INVALID_INPUT"),
        ({"drift_factor": 0.9}, ConfigError, "INVALID_DRIFT"),
        ({"node_timeout": -1}, InvalidInput, "INVALID_INPUT"),
        ({"node_timeout": 0}, ConfigError, "INVALID_NODE_TIMEOUT"),
        ({"node_timeout": 100.0}, ConfigError, "INVALID_NODE_TIMEOUT"),
        ({"retry": "fast"}, InvalidInput, "INVALID_INPUT"),
        ({"retry": Retry(max_attempts=0)}, ConfigError, "INVALID_RETRY"),
        ({"retry": Retry(base_delay=-1)}, InvalidInput, "INVALID_INPUT"),
        ({"retry": Retry(base_delay=NAN)}, InvalidInput, "INVALID_INPUT"),
        ({"retry": Retry(base_delay=5, max_delay=1)}, ConfigError, "INVALID_RETRY"),
        ({"retry": Retry(backoff="linear")}, InvalidInput, "INVALID_INPUT"),  # type: ignore[arg-type]
        ({"retry": Retry(max_attempts=2.5)}, InvalidInput, "INVALID_INPUT"),  # type: ignore[arg-type]
        ({"auto_extend": "yes"}, InvalidInput, "INVALID_INPUT"),
        ({"fencing": 1}, InvalidInput, "INVALID_INPUT"),
        ({"namespace": "{ns}"}, ConfigError, "INVALID_NAMESPACE"),
        ({"namespace": ""}, ConfigError, "INVALID_NAMESPACE"),
        ({"namespace": 5}, InvalidInput, "INVALID_INPUT"),
        ({"rng_seed": -1}, InvalidInput, "INVALID_INPUT"),
        ({"rng_seed": 1 << 64}, InvalidInput, "INVALID_INPUT"),
        ({"rng_seed": 1.0}, InvalidInput, "INVALID_INPUT"),
    ],
)
def test_bad_options(kwargs: dict[str, Any], cls: type[FencelockError], code: str) -> None:
    raises(cls, code, make(**kwargs))


# ----- clients ---------------------------------------------------------------------------------


def test_clients_must_be_redis_clients() -> None:
    raises(InvalidInput, "INVALID_INPUT", lambda: Redlock("redis://localhost"))  # type: ignore[arg-type]
    raises(InvalidInput, "INVALID_INPUT", lambda: Redlock([object()]))  # type: ignore[list-item]
    raises(InvalidInput, "INVALID_INPUT", lambda: Redlock(5))  # type: ignore[arg-type]
    raises(ConfigError, "NO_NODES", lambda: Redlock([]))
    raises(ConfigError, "TOO_MANY_NODES", lambda: Redlock(fake_clients(65)))


def test_sync_and_async_clients_do_not_mix() -> None:
    sync, asynchronous = fake_clients(2), fake_async_clients(2)
    raises(InvalidInput, "INVALID_INPUT", lambda: Redlock(sync + asynchronous))  # type: ignore[operator]
    raises(InvalidInput, "INVALID_INPUT", lambda: Redlock(asynchronous))  # type: ignore[arg-type]
    raises(InvalidInput, "INVALID_INPUT", lambda: AsyncRedlock(sync))  # type: ignore[arg-type]
    raises(InvalidInput, "INVALID_INPUT", lambda: AsyncRedlock(asynchronous + sync))  # type: ignore[operator]


def test_one_server_cannot_count_twice() -> None:
    client = fake_clients(1)[0]
    raises(InvalidInput, "INVALID_INPUT", lambda: Redlock([client, client]))
    same = [redis.Redis(port=7000), redis.Redis(port=7000)]
    raises(InvalidInput, "INVALID_INPUT", lambda: Redlock(same))


# ----- resource names and timeouts --------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "cls", "code"),
    [
        (("",), ConfigError, "EMPTY_RESOURCE"),
        (("x" * 513,), ConfigError, "RESOURCE_TOO_LONG"),
        (("é" * 257,), ConfigError, "RESOURCE_TOO_LONG"),
        ((), ConfigError, "NO_RESOURCES"),
        (([f"r{i}" for i in range(65)],), ConfigError, "TOO_MANY_RESOURCES"),
        (("a", "a"), ConfigError, "DUPLICATE_RESOURCE"),
        ((5,), InvalidInput, "INVALID_INPUT"),
        ((b"bytes",), InvalidInput, "INVALID_INPUT"),
        ((["a", None],), InvalidInput, "INVALID_INPUT"),
    ],
)
def test_bad_resource_names(names: tuple[Any, ...], cls: type[FencelockError], code: str) -> None:
    redlock = Redlock(fake_clients())
    raises(cls, code, lambda: redlock(*names).acquire())


@pytest.mark.parametrize(
    ("timeout", "cls", "code"),
    [
        (NAN, InvalidInput, "INVALID_INPUT"),
        (-1, InvalidInput, "INVALID_INPUT"),
        ("5", InvalidInput, "INVALID_INPUT"),
        (0, ConfigError, "INVALID_TIMEOUT"),
        (1e6, ConfigError, "INVALID_TIMEOUT"),
    ],
)
def test_bad_acquire_timeouts(timeout: Any, cls: type[FencelockError], code: str) -> None:
    redlock = Redlock(fake_clients())
    raises(cls, code, lambda: redlock("a", timeout=timeout).acquire())
    raises(cls, code, lambda: redlock("a").acquire(timeout=timeout))


def test_names_are_accepted_as_args_or_a_list() -> None:
    redlock = Redlock(fake_clients())
    with redlock(["b", "a"]) as lease:
        assert lease.resources == ("a", "b")
    with redlock("c", "d") as lease:
        assert lease.resources == ("c", "d")


# ----- a lease after release --------------------------------------------------------------------


def test_using_a_lease_after_release() -> None:
    redlock = Redlock(fake_clients())
    lock = redlock("a")
    raises(UsageError, "INVALID_STATE", lock.release)
    raises(UsageError, "INVALID_STATE", lock.extend)
    lease = lock.acquire()
    raises(UsageError, "INVALID_STATE", lock.acquire)
    assert lease.release() == "released"
    raises(UsageError, "INVALID_STATE", lease.release)
    raises(UsageError, "INVALID_STATE", lease.extend)
    raises(UsageError, "INVALID_STATE", lease.check)
    assert lease.remaining() == 0.0
    assert lock.acquire().fencing_token == 1  # a Lock can be used again once released
    lock.release()


def test_using_an_async_lease_after_release() -> None:
    async def main() -> None:
        redlock = AsyncRedlock(fake_async_clients())
        lock = redlock("a")
        with pytest.raises(UsageError):
            await lock.release()
        async with lock as lease:
            assert lease.fencing_token == 1
            with pytest.raises(UsageError):
                await lock.acquire()
        with pytest.raises(UsageError) as raised:
            await lease.release()
        assert raised.value.code == "INVALID_STATE"
        with pytest.raises(UsageError):
            await lease.extend()
        with pytest.raises(UsageError):
            lease.check()

    asyncio.run(main())


def test_exceptions_pickle_and_compare() -> None:
    err = LockLost("LEASE_LOST", "gone", "rejected")
    again = pickle.loads(pickle.dumps(err))
    assert (again.code, again.reason, str(again)) == ("LEASE_LOST", "rejected", str(err))


# ----- fence guards -----------------------------------------------------------------------------


def test_fence_guards_refuse_bad_tokens_and_identifiers() -> None:
    guard = FenceGuard()
    raises(InvalidInput, "INVALID_INPUT", lambda: guard.admit(-1))
    raises(InvalidInput, "INVALID_INPUT", lambda: guard.admit("7"))  # type: ignore[arg-type]
    assert guard.admit(5) and guard.admit(5) and not guard.admit(4) and guard.highest == 5
    raises(InvalidInput, "INVALID_IDENTIFIER", lambda: SqlFenceGuard("t; DROP", ["v"]))
    raises(InvalidInput, "INVALID_IDENTIFIER", lambda: SqlFenceGuard("t", ["1v"]))
    raises(InvalidInput, "INVALID_INPUT", lambda: SqlFenceGuard("t", "v"))
    sql = SqlFenceGuard("t", ["v", "w"], paramstyle="format")
    assert (
        sql.sql
        == "UPDATE t SET v = %s, w = %s, fence_token = %s WHERE id = %s AND fence_token <= %s"
    )
    assert sql.params([1, 2], 9, "k") == (1, 2, 9, "k", 9)
    raises(InvalidInput, "INVALID_INPUT", lambda: sql.params([1], 9, "k"))


# ----- the low level -----------------------------------------------------------------------------

CONFIG = {"nodes": 3, "ttl": 10000}
INIT = {"now": 1000, "resources": ["a"], "value": "v-1"}


@pytest.mark.parametrize(
    ("config", "init"),
    [
        ("config", INIT),
        (CONFIG, ["init"]),
        ({**CONFIG, "ttl": 10.5}, INIT),
        ({**CONFIG, "ttl": NAN}, INIT),
        ({**CONFIG, "ttl": INF}, INIT),
        ({**CONFIG, "ttl": -1}, INIT),
        ({**CONFIG, "ttl": 1 << 70}, INIT),
        ({**CONFIG, "ttl": "10000"}, INIT),
        ({**CONFIG, "bogus": 1}, INIT),
        ({"ttl": 10000}, INIT),
        (CONFIG, {**INIT, "now": -5}),
        (CONFIG, {**INIT, "resources": "a"}),
        (CONFIG, {**INIT, "value": object()}),
        ({**CONFIG, 5: 1}, INIT),  # type: ignore[misc]
    ],
)
def test_low_level_construction_refuses_bad_values(config: Any, init: Any) -> None:
    raises(InvalidInput, "INVALID_INPUT", lambda: lowlevel.RedlockMachine(config, init))


def test_low_level_accepts_integral_floats_like_javascript_hosts() -> None:
    m = lowlevel.RedlockMachine({**CONFIG, "ttl": 10000.0}, {**INIT, "now": 1000.0})
    assert m.poll_timeout() == 1000 + 200  # the default node timeout (capped at 200 ms)


def test_low_level_unknown_machine() -> None:
    raises(InvalidInput, "INVALID_INPUT", lambda: lowlevel.Machine("nope", CONFIG, INIT))
    raises(InvalidInput, "INVALID_INPUT", lambda: lowlevel.machine("", CONFIG, INIT))


@pytest.mark.parametrize(
    "value",
    [
        "reply",
        {"type": "reply"},
        {"type": "reply", "now": 1001, "req": 1},
        {"type": "reply", "now": 1001, "req": 1, "result": {"type": "bogus"}},
        {"type": "reply", "now": -1, "req": 1, "result": {"type": "nil"}},
        {"type": "reply", "now": 1001, "req": 1.5, "result": {"type": "nil"}},
        {"type": "timeout", "now": NAN},
        {"type": "timeout", "now": 1 << 64},
        {"type": "teleport", "now": 1001},
        {"type": "timeout", "now": 1001, "extra": 1},
    ],
)
def test_low_level_inputs_of_the_wrong_shape(value: Any) -> None:
    m = lowlevel.RedlockMachine(CONFIG, INIT)
    m.drain()
    raises(InvalidInput, "INVALID_INPUT", lambda: m.handle_input(value))
    assert m.poll_output() is None and m.state == "acquiring"


def test_low_level_usage_errors() -> None:
    m = lowlevel.RedlockMachine(CONFIG, INIT)
    raises(
        UsageError, "TIME_OUT_OF_RANGE", lambda: m.handle_input({"type": "timeout", "now": 1 << 60})
    )
    raises(UsageError, "NON_MONOTONIC_TIME", lambda: m.handle_input({"type": "timeout", "now": 5}))
    raises(UsageError, "UNKNOWN_REQUEST", lambda: m._reply(1001, 99, None, 1))
    raises(InvalidInput, "INVALID_INPUT", lambda: m._error(1001, 1, 0, "bogus", ""))
    step = m._reply(1001, 1, 0, object())  # not a reply shape: a protocol error, not a crash
    assert step[1][0]["type"] == "node_error" and step[1][0]["kind"] == "protocol"
    deep: Any = 1
    for _ in range(50):
        deep = [deep]
    assert m._reply(1002, 2, 1, deep)[1][0]["kind"] == "protocol"
    raises(InvalidInput, "INVALID_INPUT", lambda: _native.lock_value_from_random(b"short"))
    raises(InvalidInput, "INVALID_INPUT", lambda: _native.lock_value_from_random("x" * 16))  # type: ignore[arg-type]


def _junk(rng: random.Random, depth: int = 0) -> Any:
    choices: list[Callable[[], Any]] = [
        lambda: None,
        lambda: rng.choice([True, False]),
        lambda: rng.randint(-(1 << 70), 1 << 70),
        lambda: rng.choice([NAN, INF, -0.0, 1.5, 1e300, 3.0]),
        lambda: rng.choice(["", "reply", "timeout", "int", "x" * 600, "\x00", "\udcff"]),
        lambda: b"bytes",
        object,
    ]
    if depth < 4:
        choices.append(lambda: [_junk(rng, depth + 1) for _ in range(rng.randint(0, 3))])
        choices.append(
            lambda: {
                rng.choice(["type", "now", "req", "node", "result", "value", "kind", "x"]): _junk(
                    rng, depth + 1
                )
                for _ in range(rng.randint(0, 5))
            }
        )
    return rng.choice(choices)()


def test_junk_never_crashes_the_interpreter() -> None:
    """Only fencelock's own exceptions come out, whatever goes in (a panic would
    surface as pyo3's PanicException and fail this test)."""
    rng = random.Random(1234)
    refused = contextlib.suppress(FencelockError)
    for _ in range(3000):
        m = lowlevel.RedlockMachine(CONFIG, INIT)
        for target in (m.handle_input, m.step):
            with refused:
                target(_junk(rng))
        with refused:
            lowlevel.RedlockMachine(_junk(rng), _junk(rng))
        with refused:
            m._reply(1001, rng.randint(0, 4), rng.randint(0, 3), _junk(rng))
        for _ in range(3):
            now = rng.choice([999, 1001, 1200, 20000])
            with refused:
                rng.choice([m._timeout, m._extend, m._release])(now)
        json.dumps(m.lease)  # getters always give JSON values
        assert isinstance(m.state, str)
        timeout = m.poll_timeout()
        assert timeout is None or timeout >= 0


def test_fenced_writes_without_a_usable_reply_raise_fenced_write_failed() -> None:
    dead = redis.Redis(port=1, socket_connect_timeout=0.2, retry=RedisRetry(NoBackoff(), 0))
    error = raises(
        FencedWriteFailed, "FENCED_WRITE_FAILED", lambda: RedisFenceGuard(dead, "r").write(1, "v")
    )
    assert isinstance(error.__cause__, redis.exceptions.ConnectionError)
    db = sqlite3.connect(":memory:")
    guard = SqlFenceGuard("missing", ["v"], paramstyle="qmark")
    raises(FencedWriteFailed, "FENCED_WRITE_FAILED", lambda: guard.write(db.cursor(), [1], 1, "k"))
