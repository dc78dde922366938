"""Where the examples find their Redis masters: ``FENCELOCK_REDIS_PORTS`` (the first
five are the masters, a sixth holds the protected resource), else 7001-7006."""

from __future__ import annotations

import os


def ports() -> list[int]:
    raw = os.environ.get("FENCELOCK_REDIS_PORTS", "7001,7002,7003,7004,7005,7006")
    return [int(p) for p in raw.split(",")]


def masters() -> list[int]:
    return ports()[:5]


def resource() -> int:
    return ports()[5]
