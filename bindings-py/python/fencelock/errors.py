"""The one exception hierarchy of fencelock.

Every exception carries a stable ``code`` (listed in the project's
``conformance/errors.json``, the same in every language) and a human message
(which may change between versions)::

    FencelockError            base, .code / .message
    +-- ConfigError           a lock could not be built (core "config" codes: INVALID_TTL, ...)
    +-- UsageError            the API was misused (core "usage" codes: INVALID_STATE, ...)
    +-- InvalidInput          a value has the wrong type or is NaN / negative / fractional
    |                         (INVALID_INPUT; INVALID_IDENTIFIER for the SQL builder)
    +-- LockNotAcquired       the acquisition ended without a lease (LOCK_NOT_ACQUIRED)
    +-- LockLost              the lease was lost (LEASE_LOST, the core's code for extending
    |                         a lost lease)
    +-- FencedWriteFailed     a fence guard got no usable reply from the protected resource
    |                         (FENCED_WRITE_FAILED; the client's exception is the __cause__)
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
    "UsageError",
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

    ``reason`` is the core's ``acquire_failed`` reason (``attempts_exhausted``,
    ``deadline`` or ``cancelled``); ``stats`` holds its ``latency`` (ms),
    ``attempts`` and ``contended`` attempts.
    """

    reason: str
    stats: dict[str, int]

    def __init__(
        self,
        code: str,
        message: str,
        reason: str = "attempts_exhausted",
        stats: Optional[dict[str, int]] = None,
    ) -> None:
        super().__init__(code, message)
        self.args = (code, message, reason, stats)
        self.reason = reason
        self.stats = dict(stats or {})


class LockLost(FencelockError):
    """The lease is no longer held; stop using the protected resource.

    ``reason`` is the core's ``lost`` reason: ``expired``, ``extension_failed``
    or ``rejected``.
    """

    reason: str

    def __init__(self, code: str, message: str, reason: str = "expired") -> None:
        super().__init__(code, message)
        self.args = (code, message, reason)
        self.reason = reason


class FencedWriteFailed(FencelockError):
    """A fence guard got no usable reply from the protected resource (connection or
    server error): nothing is known to be written. The client's exception is the
    ``__cause__``."""


class InternalError(FencelockError):
    """A bug inside fencelock (the binding or the core) was caught at the boundary;
    the process keeps running. Please report it."""


LOCK_NOT_ACQUIRED = "LOCK_NOT_ACQUIRED"
FENCED_WRITE_FAILED = "FENCED_WRITE_FAILED"
INTERNAL = "INTERNAL"
LEASE_LOST = "LEASE_LOST"
INVALID_INPUT = "INVALID_INPUT"
INVALID_STATE = "INVALID_STATE"
