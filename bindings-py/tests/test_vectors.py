"""Runs every conformance vector through the binding's low-level machines.

Rules (conformance/README.md): every file under ``conformance/vectors`` runs;
outputs compare as JSON values (key order free, array order not); unknown
expectation keys are rejected; a rejected input emits nothing and leaves the
machine unchanged. A vector for a machine this build does not compile in yet is
reported as xfail ("machine not exposed yet"), never silently skipped.

The Redlock vectors also run through the drivers' fast path (``_reply`` ...),
so both ways into the core are held to the same stories.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

import pytest

from fencelock import FencelockError, lowlevel
from fencelock._common import SCRIPTS

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


def needs_machine(vector: dict[str, Any]) -> None:
    """Vectors of a machine (or wire codec) this build does not compile in yet are
    reported as xfail, by name; every other vector must pass."""
    if "codec" in vector and "machine" not in vector:
        if vector["codec"] not in lowlevel.CODECS:
            pytest.xfail(f"codec not exposed yet: {vector['codec']}")
        raise AssertionError(f"codec {vector['codec']} is exposed but has no runner here")
    if vector["machine"] not in lowlevel.MACHINES:
        pytest.xfail(f"machine not exposed yet: {vector['machine']}")


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
    assert "redlock" in lowlevel.MACHINES


@pytest.mark.parametrize("path", VECTOR_FILES, ids=_id)
def test_vector(path: Path) -> None:
    vector = load(path)
    needs_machine(vector)
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


def _split(outputs: list[Any]) -> tuple[list[Any], list[Any]]:
    return [o for o in outputs if "command" in o], [o for o in outputs if "event" in o]


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
