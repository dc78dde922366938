"""The core's machines, dict in / dict out, exactly as in the conformance vectors.

::

    m = machine("redlock", config, init)      # or RedlockMachine(config, init)
    outputs = m.drain()                       # the first attempt's commands
    outputs = m.step({"type": "reply", "now": 1004, "req": 1,
                      "result": {"type": "int", "value": 7}})
    m.state, m.poll_timeout(), m.getter("lease")

Every machine this build knows is listed in :data:`MACHINES` (``redlock``,
``etcd_mutex``, ``etcd_election``, ``etcd_observer``, ``zookeeper_lock``,
``zookeeper_election``, ``advisory_lock``), every wire codec in :data:`CODECS`
(``etcd_gateway``). 64-bit identifiers (etcd lease ids, ZooKeeper session ids and
zxids, so the ZooKeeper token) are decimal strings here, as in the vectors.

The etcd JSON-gateway codec: :func:`etcd_gateway_encode` (command dict -> ``(path,
body)``), :func:`etcd_gateway_decode` (command dict, response body -> reply dict)
and :func:`etcd_gateway_decode_watch_line` (one watch stream line -> reply dict or
``None``); malformed bodies raise :class:`~fencelock.errors.WireError`.
:class:`EtcdGatewayMachine` is an etcd machine whose commands come out as gateway
requests and whose replies go in as response bodies.

Errors are the ``fencelock.errors`` classes with the core's codes.
"""

from __future__ import annotations

from typing import Any

from ._native import (
    CODECS,
    MACHINES,
    EtcdGatewayMachine,
    Machine,
    RedlockMachine,
    etcd_gateway_decode,
    etcd_gateway_decode_watch_line,
    etcd_gateway_encode,
)

__all__ = [
    "CODECS",
    "MACHINES",
    "EtcdGatewayMachine",
    "Machine",
    "RedlockMachine",
    "etcd_gateway_decode",
    "etcd_gateway_decode_watch_line",
    "etcd_gateway_encode",
    "machine",
]


_CLASSES: dict[str, Any] = {"redlock": RedlockMachine}


def machine(name: str, config: dict[str, Any], init: dict[str, Any]) -> Machine:
    """Builds the machine a vector names (``vector["machine"]``), as its own class
    when it has one."""
    cls = _CLASSES.get(name)
    if cls is not None:
        built: Machine = cls(config, init)
        return built
    return Machine(name, config, init)
