"""fencelock: distributed locks with fencing tokens, driven by one Rust core.

Sync::

    import redis
    from fencelock import Redlock

    redlock = Redlock([redis.Redis(port=p) for p in ports], ttl=10.0)
    with redlock("orders:42", timeout=5.0) as lease:   # raises LockNotAcquired
        write(lease.fencing_token)                     # lease.lost is set if the lease is lost

asyncio::

    import redis.asyncio
    from fencelock import AsyncRedlock

    redlock = AsyncRedlock([redis.asyncio.Redis(port=p) for p in ports], ttl=10.0)
    async with redlock("orders:42", timeout=5.0) as lease:
        await write(lease.fencing_token)

Low level (the core's machines, dict in / dict out): :mod:`fencelock.lowlevel`.
"""

from __future__ import annotations

from . import lowlevel
from ._common import AcquireStats, EventHook, ReleaseOutcome, Retry, Stats
from .aio import AsyncLease, AsyncLock, AsyncRedlock
from .errors import (
    ConfigError,
    FencedWriteFailed,
    FencelockError,
    InternalError,
    InvalidInput,
    LockLost,
    LockNotAcquired,
    UsageError,
)
from .fence import AsyncRedisFenceGuard, FenceGuard, RedisFenceGuard, SqlFenceGuard
from .redlock import Lease, Lock, Redlock

__all__ = [
    "AcquireStats",
    "AsyncLease",
    "AsyncLock",
    "AsyncRedisFenceGuard",
    "AsyncRedlock",
    "ConfigError",
    "EventHook",
    "FencedWriteFailed",
    "FenceGuard",
    "FencelockError",
    "InternalError",
    "InvalidInput",
    "Lease",
    "Lock",
    "LockLost",
    "LockNotAcquired",
    "RedisFenceGuard",
    "Redlock",
    "ReleaseOutcome",
    "Retry",
    "SqlFenceGuard",
    "Stats",
    "UsageError",
    "lowlevel",
]
