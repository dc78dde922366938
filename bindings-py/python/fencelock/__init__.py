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

etcd (JSON gateway, standard-library HTTP), ZooKeeper (kazoo) and PostgreSQL
(psycopg 3) locks, each sync and asyncio, with the same lease shape::

    from fencelock import EtcdLock, ZooKeeperLock, AdvisoryLock

    with EtcdLock(["127.0.0.1:2379"], ttl=10)("orders", timeout=5.0) as lease:
        write(lease.fencing_token)

Low level (the core's machines, dict in / dict out): :mod:`fencelock.lowlevel`.
"""

from __future__ import annotations

from . import lowlevel
from ._common import AcquireStats, EventHook, ReleaseOutcome, Retry, Stats
from ._drive import AsyncNamedLock, NamedLock
from .advisory import AdvisoryLease, AdvisoryLock, AsyncAdvisoryLease, AsyncAdvisoryLock
from .aio import AsyncLease, AsyncLock, AsyncRedlock
from .errors import (
    ConfigError,
    FencedWriteFailed,
    FencelockError,
    InternalError,
    InvalidInput,
    LockLost,
    LockNotAcquired,
    SessionNotPinned,
    UsageError,
    WireError,
)
from .etcd import (
    AsyncEtcdElection,
    AsyncEtcdLeadership,
    AsyncEtcdLease,
    AsyncEtcdLock,
    AsyncEtcdObservation,
    EtcdElection,
    EtcdLeader,
    EtcdLeadership,
    EtcdLease,
    EtcdLock,
    EtcdObservation,
)
from .fence import AsyncRedisFenceGuard, FenceGuard, RedisFenceGuard, SqlFenceGuard
from .redlock import Lease, Lock, Redlock
from .zookeeper import (
    AsyncZooKeeperElection,
    AsyncZooKeeperLeadership,
    AsyncZooKeeperLease,
    AsyncZooKeeperLock,
    ZooKeeperElection,
    ZooKeeperLeadership,
    ZooKeeperLease,
    ZooKeeperLock,
)

__all__ = [
    "AcquireStats",
    "AdvisoryLease",
    "AdvisoryLock",
    "AsyncAdvisoryLease",
    "AsyncAdvisoryLock",
    "AsyncEtcdElection",
    "AsyncEtcdLeadership",
    "AsyncEtcdLease",
    "AsyncEtcdLock",
    "AsyncEtcdObservation",
    "AsyncNamedLock",
    "AsyncZooKeeperElection",
    "AsyncZooKeeperLeadership",
    "AsyncZooKeeperLease",
    "AsyncZooKeeperLock",
    "AsyncLease",
    "AsyncLock",
    "AsyncRedisFenceGuard",
    "AsyncRedlock",
    "ConfigError",
    "EtcdElection",
    "EtcdLeader",
    "EtcdLeadership",
    "EtcdLease",
    "EtcdLock",
    "EtcdObservation",
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
    "NamedLock",
    "RedisFenceGuard",
    "Redlock",
    "ReleaseOutcome",
    "Retry",
    "SessionNotPinned",
    "SqlFenceGuard",
    "Stats",
    "UsageError",
    "WireError",
    "ZooKeeperElection",
    "ZooKeeperLeadership",
    "ZooKeeperLease",
    "ZooKeeperLock",
    "lowlevel",
]
