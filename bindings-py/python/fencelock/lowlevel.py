"""The core's machines, dict in / dict out, exactly as in the conformance vectors.

::

    m = RedlockMachine(config, init)          # or machine("redlock", config, init)
    outputs = m.drain()                       # the first attempt's commands
    outputs = m.step({"type": "reply", "now": 1004, "req": 1,
                      "result": {"type": "int", "value": 7}})
    m.state, m.poll_timeout(), m.lease

Every machine this build knows is listed in :data:`MACHINES`, every wire codec
in :data:`CODECS`. Errors are the
``fencelock.errors`` classes with the core's codes.
"""

from __future__ import annotations

from typing import Any

from ._native import CODECS, MACHINES, Machine, RedlockMachine

__all__ = ["CODECS", "MACHINES", "Machine", "RedlockMachine", "machine"]


_CLASSES: dict[str, Any] = {"redlock": RedlockMachine}


def machine(name: str, config: dict[str, Any], init: dict[str, Any]) -> Machine:
    """Builds the machine a vector names (``vector["machine"]``), as its own class
    when it has one."""
    cls = _CLASSES.get(name)
    if cls is not None:
        built: Machine = cls(config, init)
        return built
    return Machine(name, config, init)
