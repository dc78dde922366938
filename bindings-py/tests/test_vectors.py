"""Runs every conformance vector through the binding's low-level machines.

Rules (conformance/README.md): every file under ``conformance/vectors`` runs;
outputs compare as JSON values (key order free, array order not); unknown
expectation keys are rejected; a rejected input emits nothing and leaves the
machine unchanged. A vector for a machine or codec this build does not know fails.

Machine vectors run through the low-level classes (dict in / dict out); codec
vectors (``"codec": "etcd_gateway"``) through the native codec functions. Every
machine vector also runs through the path the high-level drivers use: the
Redlock fast path (``_reply`` ...) and, for the other machines, the generic step
(``_drain_step`` / ``_step``), so every way into the core is held to the same
stories.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

import pytest

from fencelock import FencelockError, lowlevel
from fencelock._common import SCRIPTS
from fencelock.errors import WireError

GETTERS = {"lease", "lock", "leader"}
"""Expectation keys read through the machine's getter of the same name."""
KNOWN_KEYS = {"outputs", "timeout", "state", "error"} | GETTERS


def _vectors_dir() -> Path:
    env = os.environ.get("FENCELOCK_VECTORS")
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "conformance" / "vectors"
        if candidate.is_dir():
            return candidate
    raise RuntimeError("conformance/vectors not found; set FENCELOCK_VECTORS")


VECTORS_DIR = _vectors_dir()
VECTOR_FILES = sorted(VECTORS_DIR.rglob("*.json"))


def _id(path: Path) -> str:
    return str(path.relative_to(VECTORS_DIR))


def canonical(value: Any) -> str:
    """JSON text with sorted keys: equal exactly when the JSON values are equal
    (unlike Python ``==``, it tells ``true`` from ``1``)."""
    return json.dumps(value, sort_keys=True)


def load(path: Path) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return vector


MACHINE_FILES = [p for p in VECTOR_FILES if "machine" in load(p)]
CODEC_FILES = [p for p in VECTOR_FILES if "machine" not in load(p)]


def check(label: str, expect: dict[str, Any], outputs: list[Any], m: lowlevel.Machine) -> None:
    unknown = set(expect) - KNOWN_KEYS
    assert not unknown, f"{label}: unknown expectation keys {sorted(unknown)}"
    if "outputs" in expect:
        assert canonical(outputs) == canonical(expect["outputs"]), f"{label}: outputs differ"
    if "timeout" in expect:
        assert canonical(m.poll_timeout()) == canonical(expect["timeout"]), f"{label}: timeout"
    if "state" in expect:
        assert m.state == expect["state"], f"{label}: state"
    for key in GETTERS & set(expect):
        assert canonical(m.getter(key)) == canonical(expect[key]), f"{label}: {key}"


def test_vectors_exist() -> None:
    assert VECTOR_FILES, f"no vectors under {VECTORS_DIR}"
    machines = {load(p)["machine"] for p in MACHINE_FILES}
    codecs = {load(p)["codec"] for p in CODEC_FILES}
    assert machines <= set(lowlevel.MACHINES), machines - set(lowlevel.MACHINES)
    assert codecs <= set(lowlevel.CODECS), codecs - set(lowlevel.CODECS)
    assert set(lowlevel.MACHINES) == {
        "redlock",
        "etcd_mutex",
        "etcd_election",
        "etcd_observer",
        "zookeeper_lock",
        "zookeeper_election",
        "advisory_lock",
    }
    assert machines == set(lowlevel.MACHINES), "a machine without vectors"
    assert len(MACHINE_FILES) + len(CODEC_FILES) == len(VECTOR_FILES)


@pytest.mark.parametrize("path", MACHINE_FILES, ids=_id)
def test_vector(path: Path) -> None:
    vector = load(path)
    expect_init = vector["expect_init"]
    try:
        m = lowlevel.machine(vector["machine"], vector["config"], vector["init"])
    except FencelockError as e:
        assert expect_init == {"error": e.code}, f"init: unexpected {e}"
        return
    assert "error" not in expect_init, f"init: expected {expect_init['error']}, got a machine"
    check("init", expect_init, m.drain(), m)
    for i, step in enumerate(vector.get("steps", []), 1):
        label = f"step {i}"
        expect = step["expect"]
        before = (m.state, m.poll_timeout(), canonical(m.lease))  # unchanged if refused
        if "error" in expect:
            with pytest.raises(FencelockError) as raised:
                m.handle_input(step["input"])
            assert raised.value.code == expect["error"], f"{label}: {raised.value}"
            assert (m.state, m.poll_timeout(), canonical(m.lease)) == before, label
            assert m.poll_output() is None, f"{label}: a rejected input emitted output"
            outputs: list[Any] = []
        else:
            outputs = m.step(step["input"])
        check(label, expect, outputs, m)


# ----- codec vectors: the etcd JSON gateway ------------------------------------------------------


@pytest.mark.parametrize("path", CODEC_FILES, ids=_id)
def test_codec_vector(path: Path) -> None:
    vector = load(path)
    assert vector["codec"] == "etcd_gateway", vector["codec"]
    unknown_case_keys = {"command", "request", "response", "watch_line", "reply", "error"}
    for i, case in enumerate(vector["cases"], 1):
        label = f"case {i}"
        assert set(case) <= unknown_case_keys, (
            f"{label}: unknown keys {set(case) - unknown_case_keys}"
        )
        if "watch_line" in case:
            run = lambda c=case: lowlevel.etcd_gateway_decode_watch_line(c["watch_line"])  # noqa: E731
        else:
            command = case["command"]
            if "request" in case:
                encoded = lowlevel.etcd_gateway_encode(command)
                got = (
                    None
                    if encoded is None
                    else {"path": encoded[0], "body": json.loads(encoded[1])}
                )
                assert canonical(got) == canonical(case["request"]), f"{label}: request differs"
            if "response" not in case:
                assert "reply" not in case and "error" not in case, label
                continue
            # Bodies arrive as bytes from a socket; str is accepted too.
            run = lambda c=case: lowlevel.etcd_gateway_decode(c["command"], c["response"].encode())  # noqa: E731
        if "error" in case:
            with pytest.raises(FencelockError) as raised:
                run()
            assert isinstance(raised.value, WireError), f"{label}: {raised.value!r}"
            assert raised.value.code == case["error"], f"{label}: {raised.value}"
        else:
            assert "reply" in case, f"{label}: neither reply nor error"
            assert canonical(run()) == canonical(case["reply"]), f"{label}: reply differs"


# ----- the drivers' generic step, against the same stories ------------------------------------


def _split(outputs: list[Any]) -> tuple[list[Any], list[Any]]:
    return [o for o in outputs if "command" in o], [o for o in outputs if "event" in o]


@pytest.mark.parametrize(
    "path", [p for p in MACHINE_FILES if load(p)["machine"] != "redlock"], ids=_id
)
def test_vector_generic_step(path: Path) -> None:
    vector = load(path)
    expect_init = vector["expect_init"]
    if "error" in expect_init:
        with pytest.raises(FencelockError) as raised:
            lowlevel.machine(vector["machine"], vector["config"], vector["init"])
        assert raised.value.code == expect_init["error"]
        return
    m = lowlevel.machine(vector["machine"], vector["config"], vector["init"])
    results = [(expect_init, m._drain_step())]
    for step in vector.get("steps", []):
        expect = step["expect"]
        if "error" in expect:
            with pytest.raises(FencelockError) as raised:
                m._step(step["input"])
            assert raised.value.code == expect["error"]
            continue
        results.append((expect, m._step(step["input"])))
    for i, (expect, (commands, events, state, timeout)) in enumerate(results):
        if "outputs" in expect:
            want_commands, want_events = _split(expect["outputs"])
            got = ([{"command": c} for c in commands], [{"event": e} for e in events])
            assert canonical(got) == canonical((want_commands, want_events)), f"step {i}: outputs"
        if "state" in expect:
            assert state == expect["state"], f"step {i}: state"
        if "timeout" in expect:
            assert timeout == expect["timeout"], f"step {i}: timeout"


# ----- the drivers' fast path, against the same stories --------------------------------------


def _raw(result: dict[str, Any]) -> Any:
    """A vector's reply ``result`` as a Redis client would return it."""
    kind = result["type"]
    if kind == "int":
        return result["value"]
    if kind == "nil":
        return None
    if kind == "text":
        return result["value"]
    if kind == "array":
        return [_raw(item) for item in result["items"]]
    raise ValueError(kind)


def _has_nested_error(result: dict[str, Any]) -> bool:
    if result["type"] == "array":
        return any(item["type"] == "error" or _has_nested_error(item) for item in result["items"])
    return False


def _as_outputs(step: tuple[Any, ...]) -> tuple[list[Any], list[Any]]:
    commands, events, _, _ = step
    out = []
    for node, req, script, argv in commands:
        assert argv[0] == "EVALSHA" and argv[1] == SCRIPTS[script][0].encode()
        numkeys = int(argv[2])
        out.append(
            {
                "command": {
                    "type": "eval",
                    "req": req,
                    "node": node,
                    "script": script,
                    "keys": [k.decode() for k in argv[3 : 3 + numkeys]],
                    "args": [a.decode() for a in argv[3 + numkeys :]],
                }
            }
        )
    return out, [{"event": e} for e in events]


def _fast_input(m: Any, data: dict[str, Any]) -> Optional[tuple[Any, ...]]:
    kind = data["type"]
    now = data["now"]
    if kind == "reply":
        result = data["result"]
        node = data.get("node")
        if result["type"] == "error":
            return tuple(
                m._error(now, data["req"], node, result["kind"], result.get("message", ""))
            )
        if _has_nested_error(result):
            return None
        return tuple(m._reply(now, data["req"], node, _raw(result)))
    return tuple(getattr(m, f"_{kind}")(now))


REDLOCK_FILES = [p for p in VECTOR_FILES if load(p).get("machine") == "redlock"]


@pytest.mark.parametrize("path", REDLOCK_FILES, ids=_id)
def test_vector_fast_path(path: Path) -> None:
    vector = load(path)
    expect_init = vector["expect_init"]
    if "error" in expect_init:
        with pytest.raises(FencelockError) as raised:
            lowlevel.RedlockMachine(vector["config"], vector["init"])
        assert raised.value.code == expect_init["error"]
        return
    m = lowlevel.RedlockMachine(vector["config"], vector["init"])
    steps = [(expect_init, tuple(m._drain()))]
    for step in vector.get("steps", []):
        expect = step["expect"]
        data = step["input"]
        if "error" in expect:
            with pytest.raises(FencelockError) as raised:
                _fast_input(m, data)
            assert raised.value.code == expect["error"]
            continue
        result = _fast_input(m, data)
        if result is None:
            break  # an array reply holding an error has no client form; the dict runner covers it
        steps.append((expect, result))
    for i, (expect, result) in enumerate(steps):
        _, _, state, timeout = result
        if "outputs" in expect:
            got = _as_outputs(result)
            want = _split(expect["outputs"])
            assert canonical(got) == canonical(want), f"step {i}: fast-path outputs differ"
        if "state" in expect:
            assert state == expect["state"], f"step {i}: state"
        if "timeout" in expect:
            assert timeout == expect["timeout"], f"step {i}: timeout"
