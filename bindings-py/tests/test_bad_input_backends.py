"""Bad values for the etcd, ZooKeeper and PostgreSQL machines, the etcd gateway
codec and the high-level classes: each raises its typed exception and code, and
random junk never crashes the interpreter. No servers needed."""

from __future__ import annotations

import contextlib
import json
import math
import pickle
import random
from pathlib import Path
from typing import Any, Callable

import pytest
from kazoo.client import KazooClient  # type: ignore[import-untyped]

from fencelock import (
    AdvisoryLock,
    AsyncAdvisoryLock,
    ConfigError,
    EtcdElection,
    EtcdLock,
    FencelockError,
    InvalidInput,
    LockLost,
    LockNotAcquired,
    Retry,
    SessionNotPinned,
    UsageError,
    WireError,
    ZooKeeperLock,
    errors,
    lowlevel,
)

NAN = math.nan


def raises(cls: type[FencelockError], code: str, fn: Callable[[], Any]) -> FencelockError:
    with pytest.raises(cls) as raised:
        fn()
    assert raised.value.code == code, raised.value
    return raised.value


ETCD = {"ttl_secs": 10}
MUTEX = {"now": 1000, "name": "orders"}
ZK_INIT = {
    "now": 1000,
    "path": "/locks/orders",
    "guid": "0b9a0b6e-2f1c-4a64-a1ee-1c8b5a8f3d21",
    "session": "72057831385464832",
    "session_timeout": 4000,
}


# ----- high level: configuration -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "cls", "code"),
    [
        ({"ttl": 0}, ConfigError, "INVALID_TTL"),
        ({"ttl": 2.5}, InvalidInput, "INVALID_INPUT"),
        ({"ttl": "10"}, InvalidInput, "INVALID_INPUT"),
        ({"ttl": NAN}, InvalidInput, "INVALID_INPUT"),
        ({"ttl": -1}, InvalidInput, "INVALID_INPUT"),
        ({"drift_factor": 0.9}, ConfigError, "INVALID_DRIFT"),
        ({"request_timeout": 9.0}, ConfigError, "INVALID_NODE_TIMEOUT"),
        ({"wait": "sleep"}, InvalidInput, "INVALID_INPUT"),
        ({"wait": "poll", "poll_interval": 0}, ConfigError, "INVALID_WAIT"),
        ({"recheck": -1.0}, InvalidInput, "INVALID_INPUT"),
        ({"retry": "fast"}, InvalidInput, "INVALID_INPUT"),
        ({"http_timeout": 0}, InvalidInput, "INVALID_INPUT"),
        ({"headers": {"a": 1}}, InvalidInput, "INVALID_INPUT"),
    ],
)
def test_etcd_options(kwargs: dict[str, Any], cls: type[FencelockError], code: str) -> None:
    raises(cls, code, lambda: EtcdLock("127.0.0.1:2379", **kwargs))
    raises(cls, code, lambda: EtcdElection("127.0.0.1:2379", **kwargs))


@pytest.mark.parametrize(
    "endpoints", ["", [], [""], "ftp://h:1", "http://h:99999", "http://h:1/v3", 42, [None], b"x"]
)
def test_etcd_endpoints(endpoints: Any) -> None:
    raises(InvalidInput, "INVALID_INPUT", lambda: EtcdLock(endpoints))


def test_etcd_names_and_values() -> None:
    locks = EtcdLock("127.0.0.1:1")
    raises(InvalidInput, "INVALID_INPUT", lambda: locks.acquire(42))  # type: ignore[arg-type]
    raises(ConfigError, "EMPTY_RESOURCE", lambda: locks.acquire(""))
    raises(ConfigError, "RESOURCE_TOO_LONG", lambda: locks.acquire("x" * 600))
    raises(ConfigError, "INVALID_TIMEOUT", lambda: locks.acquire("a", timeout=0))
    raises(InvalidInput, "INVALID_INPUT", lambda: locks.acquire("a", timeout=NAN))
    raises(InvalidInput, "INVALID_INPUT", lambda: locks.acquire("a", try_lock=1))  # type: ignore[arg-type]
    election = EtcdElection("127.0.0.1:1")
    raises(ConfigError, "INVALID_VALUE", lambda: election.campaign("a", ""))
    raises(ConfigError, "INVALID_VALUE", lambda: election.campaign("a", "x\x00"))
    raises(InvalidInput, "INVALID_INPUT", lambda: election.campaign("a", 5))  # type: ignore[arg-type]


def test_etcd_unreachable_endpoint_ends_in_attempts_exhausted() -> None:
    # Nothing listens on port 1: every request fails at once, the machine retries
    # with its policy and gives up.
    locks = EtcdLock("127.0.0.1:1", ttl=5, retry=Retry(max_attempts=2, base_delay=0.01))
    error = raises(LockNotAcquired, "LOCK_NOT_ACQUIRED", lambda: locks.acquire("a"))
    assert isinstance(error, LockNotAcquired) and error.reason == "attempts_exhausted"
    assert locks.stats.node_errors >= 2 and locks.stats.failed == 1


def test_zookeeper_options() -> None:
    client = KazooClient(hosts="127.0.0.1:1")
    raises(InvalidInput, "INVALID_INPUT", lambda: ZooKeeperLock("client"))  # type: ignore[arg-type]
    raises(ConfigError, "INVALID_DRIFT", lambda: ZooKeeperLock(client, drift_factor=0.9))
    raises(ConfigError, "INVALID_WAIT", lambda: ZooKeeperLock(client, recheck=0))
    raises(InvalidInput, "INVALID_INPUT", lambda: ZooKeeperLock(client, recheck=NAN))
    # Not started: no session to lock in.
    raises(UsageError, "INVALID_STATE", lambda: ZooKeeperLock(client).acquire("/a"))
    client.close()


def test_advisory_options() -> None:
    raises(InvalidInput, "INVALID_INPUT", lambda: AdvisoryLock(42))
    raises(InvalidInput, "INVALID_INPUT", lambda: AsyncAdvisoryLock(42))
    raises(ConfigError, "INVALID_NODE_TIMEOUT", lambda: AdvisoryLock("x", request_timeout=0))
    raises(ConfigError, "INVALID_WAIT", lambda: AdvisoryLock("x", check_interval=0))
    raises(InvalidInput, "INVALID_INPUT", lambda: AdvisoryLock("x", check_interval=-1))


def test_session_not_pinned_is_both_not_acquired_and_lost_and_pickles() -> None:
    err = SessionNotPinned("SESSION_NOT_PINNED", "pooler", "session_not_pinned", {"latency": 3})
    assert isinstance(err, LockNotAcquired) and isinstance(err, LockLost)
    again = pickle.loads(pickle.dumps(err))
    assert (again.code, again.reason) == ("SESSION_NOT_PINNED", "session_not_pinned")
    assert again.stats == {"latency": 3}
    lost = LockNotAcquired("LOCK_NOT_ACQUIRED", "m", "lost", {}, "revoked")
    assert pickle.loads(pickle.dumps(lost)).lost_reason == "revoked"


# ----- low level: the machines ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "config", "init"),
    [
        ("etcd_mutex", {"ttl_secs": "10"}, MUTEX),
        ("etcd_mutex", {"ttl_secs": 10, "bogus": 1}, MUTEX),
        ("etcd_mutex", ETCD, {**MUTEX, "now": -1}),
        ("etcd_mutex", ETCD, {"name": "x"}),
        ("etcd_observer", ETCD, {**MUTEX, "follow": "yes"}),
        ("zookeeper_lock", {}, {**ZK_INIT, "session": 72057831385464832}),  # ids are strings
        ("zookeeper_lock", {}, {**ZK_INIT, "session": "-1"}),
        ("zookeeper_lock", {}, {**ZK_INIT, "session_timeout": 1.5}),
        ("advisory_lock", {"check_interval": NAN}, {"now": 1, "name": "a"}),
        ("advisory_lock", [], {"now": 1, "name": "a"}),
    ],
)
def test_construction_refuses_bad_values(machine: str, config: Any, init: Any) -> None:
    raises(InvalidInput, "INVALID_INPUT", lambda: lowlevel.machine(machine, config, init))


def test_gateway_machine_only_drives_etcd_machines() -> None:
    raises(
        InvalidInput,
        "INVALID_INPUT",
        lambda: lowlevel.EtcdGatewayMachine("advisory_lock", {}, {"now": 1, "name": "a"}),
    )


def test_gateway_machine_decodes_bodies_and_refuses_bad_input() -> None:
    m = lowlevel.EtcdGatewayMachine("etcd_mutex", ETCD, dict(MUTEX))
    requests, events, state, timeout = m._drain()
    assert requests == [("post", 1, "/v3/lease/grant", b'{"TTL":"10"}')]
    assert (events, state, timeout) == ([], "acquiring", 1000 + 2000)
    # A malformed body is a protocol error for the machine, never an exception.
    requests, events, _, _ = m._body(1001, 1, b"{not json")
    assert events[0]["type"] == "request_error" and events[0]["kind"] == "protocol"
    raises(UsageError, "DUPLICATE_REPLY", lambda: m._body(1002, 1, b"{}"))
    raises(UsageError, "UNKNOWN_REQUEST", lambda: m._body(1002, 99, b"{}"))
    raises(InvalidInput, "INVALID_INPUT", lambda: m._body(1002, 1, 42))  # type: ignore[arg-type]
    raises(InvalidInput, "INVALID_INPUT", lambda: m._failure(1002, 2, "bogus", ""))
    assert m._watch_line(1002, 77, b"{}") is None  # not a pending watch: nothing applied
    raises(UsageError, "NON_MONOTONIC_TIME", lambda: m._timeout(5))
    raises(UsageError, "UNSUPPORTED_INPUT", lambda: m._proclaim(1003, "v"))


def test_gateway_machine_full_cycle_with_captured_bodies() -> None:
    """Grant, acquire txn, release: the bodies etcd 3.4 sends (from the codec vectors)."""
    m = lowlevel.EtcdGatewayMachine("etcd_mutex", ETCD, dict(MUTEX))
    m._drain()
    grant = b'{"header":{"revision":"1"},"ID":"7587862243934128390","TTL":"10"}'
    requests, events, state, _ = m._body(1001, 1, grant)
    assert events[0]["type"] == "lease_granted" and events[0]["lease"] == "7587862243934128390"
    kind, req, path, body = requests[0]
    assert (kind, path) == ("post", "/v3/kv/txn")
    assert json.loads(body)["compare"][0]["create_revision"] == "0"
    txn = (
        b'{"header":{"revision":"5"},"succeeded":true,"responses":[{"response_put":{"header":{}}},'
        b'{"response_range":{"header":{},"kvs":[{"key":"b3JkZXJzLzY5MzMzZjlhM2VkZDI4MDY=",'
        b'"create_revision":"5","mod_revision":"5","version":"1","lease":"7587862243934128390"}],'
        b'"count":"1"}}]}'
    )
    requests, events, state, _ = m._body(1002, req, txn)
    acquired = [e for e in events if e["type"] == "acquired"]
    assert acquired and acquired[0]["lock"]["token"] == 5 and state == "held"
    assert m._valid_until() == acquired[0]["lock"]["valid_until"]
    assert m._remaining(1003) == acquired[0]["lock"]["valid_until"] - 1003
    requests, _, state, _ = m._release(1004)
    assert state == "releasing" and requests[0][2] == "/v3/kv/txn"


# ----- low level: the codec ----------------------------------------------------------------------


def test_codec_refuses_bad_commands_and_types_bad_bodies() -> None:
    raises(InvalidInput, "INVALID_INPUT", lambda: lowlevel.etcd_gateway_encode({"type": "nope"}))
    raises(InvalidInput, "INVALID_INPUT", lambda: lowlevel.etcd_gateway_encode("range"))  # type: ignore[arg-type]
    command = {"type": "range", "req": 1, "range": {"key": "a"}}
    assert lowlevel.etcd_gateway_encode({"type": "cancel_watch", "watch": 3}) is None
    raises(WireError, "ETCD_GATEWAY_JSON", lambda: lowlevel.etcd_gateway_decode(command, b"[1]"))
    raises(WireError, "ETCD_GATEWAY_FIELD", lambda: lowlevel.etcd_gateway_decode(command, b"{}"))
    raises(InvalidInput, "INVALID_INPUT", lambda: lowlevel.etcd_gateway_decode(command, 5))  # type: ignore[arg-type]
    raises(WireError, "ETCD_GATEWAY_JSON", lambda: lowlevel.etcd_gateway_decode_watch_line(b"x"))
    assert lowlevel.etcd_gateway_decode_watch_line('{"result":{"created":true}}') is None


# ----- junk ---------------------------------------------------------------------------------------


def _junk(rng: random.Random, depth: int = 0) -> Any:
    choices: list[Callable[[], Any]] = [
        lambda: None,
        lambda: rng.choice([True, False]),
        lambda: rng.randint(-(1 << 70), 1 << 70),
        lambda: rng.choice([NAN, 1.5, 3.0, 1e300]),
        lambda: rng.choice(
            ["", "reply", "timeout", "watch", "created", "row", "7587862243934128390", "\x00"]
        ),
        lambda: rng.choice([b"{}", b'{"header":', b"\xff", b'{"result":{"events":[1]}}']),
        object,
    ]
    if depth < 4:
        choices.append(lambda: [_junk(rng, depth + 1) for _ in range(rng.randint(0, 3))])
        choices.append(
            lambda: {
                rng.choice(
                    ["type", "now", "req", "result", "event", "session", "stat", "values", "kvs"]
                ): _junk(rng, depth + 1)
                for _ in range(rng.randint(0, 5))
            }
        )
    return rng.choice(choices)()


MACHINES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("etcd_mutex", ETCD, MUTEX),
    ("etcd_election", ETCD, {**MUTEX, "value": "v"}),
    ("etcd_observer", ETCD, {**MUTEX, "follow": True}),
    ("zookeeper_lock", {}, ZK_INIT),
    ("zookeeper_election", {}, {**ZK_INIT, "value": "v"}),
    ("advisory_lock", {}, {"now": 1000, "name": "orders"}),
]


def test_junk_never_crashes_the_interpreter() -> None:
    rng = random.Random(4321)
    refused = contextlib.suppress(FencelockError)
    for _ in range(400):
        for name, config, init in MACHINES:
            m = lowlevel.machine(name, config, dict(init))
            for target in (m.handle_input, m.step, m._step):
                with refused:
                    target(_junk(rng))
            with refused:
                reply = {"type": "reply", "now": 1001, "req": rng.randint(0, 3)}
                m._step({**reply, "result": _junk(rng)})
            with refused:
                lowlevel.machine(name, _junk(rng), _junk(rng))
            json.dumps(m.getter("leader" if name == "etcd_observer" else "lock"))
            assert isinstance(m.state, str) and isinstance(m.terminal, bool)
        g = lowlevel.EtcdGatewayMachine("etcd_mutex", ETCD, dict(MUTEX))
        g._drain()
        for call in (
            lambda g=g: g._body(1001, rng.randint(0, 3), _junk(rng)),
            lambda g=g: g._watch_line(1001, rng.randint(0, 3), _junk(rng)),
            lambda g=g: g._failure(1001, rng.randint(0, 3), rng.choice(["timeout", "x"]), "m"),
            lambda: lowlevel.etcd_gateway_decode(_junk(rng), _junk(rng)),
            lambda: lowlevel.etcd_gateway_encode(_junk(rng)),
            lambda: lowlevel.etcd_gateway_decode_watch_line(_junk(rng)),
        ):
            with refused:
                call()


def test_every_code_the_binding_names_is_in_errors_json() -> None:
    root = next(p for p in Path(__file__).resolve().parents if (p / "conformance").is_dir())
    listed = json.loads((root / "conformance" / "errors.json").read_text())
    known = {code for section, codes in listed.items() if section != "about" for code in codes}
    named = {v for k, v in vars(errors).items() if k.isupper() and isinstance(v, str)}
    assert named, "no codes found"
    assert named <= known, named - known
    assert {"SESSION_NOT_PINNED", "CONNECTION_UNUSABLE"} <= named
    assert {"ETCD_GATEWAY_JSON", "ETCD_GATEWAY_FIELD"} <= known
