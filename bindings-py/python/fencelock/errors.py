"""The one exception hierarchy of fencelock.

Every exception carries a stable ``code`` (listed in the project's
``conformance/errors.json``, the same in every language) and a human message
(which may change between versions)::

    FencelockError            base, .code / .message
    +-- ConfigError           a lock could not be built (core "config" codes: INVALID_TTL, ...)
    +-- UsageError            the API was misused (core "usage" codes: INVALID_STATE, ...)
    +-- InvalidInput          a value has the wrong type or is NaN / negative / fractional
    |                         (INVALID_INPUT; INVALID_IDENTIFIER for the SQL builder;
    |                         CONNECTION_UNUSABLE: a PostgreSQL connection that is closed
    |                         or inside a transaction)
    +-- LockNotAcquired       the acquisition ended without a lease (LOCK_NOT_ACQUIRED)
    |   +-- SessionNotPinned  a PostgreSQL session that is not pinned (SESSION_NOT_PINNED;
    |                         also a LockLost)
    +-- LockLost              the lease was lost (LEASE_LOST, the core's code for extending
    |                         a lost lease)
    +-- FencedWriteFailed     a fence guard got no usable reply from the protected resource
    |                         (FENCED_WRITE_FAILED; the client's exception is the __cause__)
    +-- WireError             a wire codec could not read bytes (ETCD_GATEWAY_JSON,
    |                         ETCD_GATEWAY_FIELD)
    +-- InternalError         a bug inside fencelock was caught at the boundary (INTERNAL)
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "ConfigError",
    "FencedWriteFailed",
    "FencelockError",
    "InternalError",
    "InvalidInput",
    "LockLost",
    "LockNotAcquired",
    "SessionNotPinned",
    "UsageError",
    "WireError",
]


class FencelockError(Exception):
    """Base of every fencelock exception; ``code`` is stable across versions and languages."""

    code: str
    message: str

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class ConfigError(FencelockError):
    """A lock could not be built from its configuration or arguments (ttl too short, ...)."""


class UsageError(FencelockError):
    """The API was misused: extend after release, release twice, time going backwards, ..."""


class InvalidInput(FencelockError):
    """A value could not be converted: wrong type, NaN, infinity, negative or fractional."""


class LockNotAcquired(FencelockError):
    """The acquisition ended without a lease.

    ``reason`` is the core's ``acquire_failed`` reason: ``attempts_exhausted``,
    ``deadline`` or ``cancelled`` for every backend; ``locked`` (a try-lock found it
    held) for etcd, ZooKeeper and PostgreSQL; ``lost`` (etcd, ZooKeeper: our lease,
    session or queue node ended while we waited; ``lost_reason`` says why);
    ``already_held``, ``session_lost``, ``session_not_pinned`` (PostgreSQL).
    ``stats`` is the event's ``stats`` as the core reports it (``latency`` in ms, and
    ``attempts`` / ``contended`` or ``retries`` / ``queued`` depending on the
    backend).
    """

    reason: str
    stats: dict[str, int]
    lost_reason: Optional[str]

    def __init__(
        self,
        code: str,
        message: str,
        reason: str = "attempts_exhausted",
        stats: Optional[dict[str, int]] = None,
        lost_reason: Optional[str] = None,
    ) -> None:
        super().__init__(code, message)
        self.args = (code, message, reason, stats, lost_reason)
        self.reason = reason
        self.stats = dict(stats or {})
        self.lost_reason = lost_reason


class LockLost(FencelockError):
    """The lease is no longer held; stop using the protected resource.

    ``reason`` is the core's ``lost`` reason. Redlock: ``expired``,
    ``extension_failed``, ``rejected``; etcd: ``expired``, ``revoked``,
    ``key_deleted``; ZooKeeper: ``expired``, ``session_expired``, ``node_deleted``,
    ``owner_mismatch``; PostgreSQL: ``session_lost``, ``not_held``,
    ``session_not_pinned``.
    """

    reason: str

    def __init__(self, code: str, message: str, reason: str = "expired") -> None:
        super().__init__(code, message)
        self.args = (code, message, reason)
        self.reason = reason


class SessionNotPinned(LockNotAcquired, LockLost):
    """Two statements of a PostgreSQL advisory lock ran on different backends: the
    connection goes through a transaction-mode pooler (or is otherwise not pinned to
    one session), and the lock may be stranded on the first backend. fencelock closed
    the connection. Use a direct connection or session pooling.

    Raised by ``acquire`` (it is a :class:`LockNotAcquired`), by ``check`` once a held
    lock saw it (it is a :class:`LockLost`) and by ``release``. Code
    ``SESSION_NOT_PINNED``; ``reason`` ``session_not_pinned``.
    """

    def __init__(
        self,
        code: str,
        message: str,
        reason: str = "session_not_pinned",
        stats: Optional[dict[str, int]] = None,
        lost_reason: Optional[str] = None,
    ) -> None:
        FencelockError.__init__(self, code, message)
        self.args = (code, message, reason, stats, lost_reason)
        self.reason = reason
        self.stats = dict(stats or {})
        self.lost_reason = lost_reason


class FencedWriteFailed(FencelockError):
    """A fence guard got no usable reply from the protected resource (connection or
    server error): nothing is known to be written. The client's exception is the
    ``__cause__``."""


class WireError(FencelockError):
    """A wire codec could not read what a server sent (errors.json "wire" codes:
    ``ETCD_GATEWAY_JSON``, ``ETCD_GATEWAY_FIELD``). The drivers never raise it: they
    hand a malformed answer to the machine as a protocol error."""


class InternalError(FencelockError):
    """A bug inside fencelock (the binding or the core) was caught at the boundary;
    the process keeps running. Please report it."""


LOCK_NOT_ACQUIRED = "LOCK_NOT_ACQUIRED"
FENCED_WRITE_FAILED = "FENCED_WRITE_FAILED"
INTERNAL = "INTERNAL"
LEASE_LOST = "LEASE_LOST"
INVALID_INPUT = "INVALID_INPUT"
INVALID_STATE = "INVALID_STATE"
SESSION_NOT_PINNED = "SESSION_NOT_PINNED"
CONNECTION_UNUSABLE = "CONNECTION_UNUSABLE"
