"""The resource side of fencing: admit a write only with a token at least as
high as the highest admitted so far (equal tokens pass, so one holder may write
many times).

- :class:`FenceGuard`: in memory (the core's guard).
- :class:`RedisFenceGuard` / :class:`AsyncRedisFenceGuard`: a value in Redis,
  written by the core's Lua compare-and-set (``REDIS_FENCED_SET``).
- :class:`SqlFenceGuard`: ``UPDATE ... WHERE fence_token <= token`` for SQL.

A write that gets no usable reply raises :class:`~fencelock.errors.FencedWriteFailed`
(code ``FENCED_WRITE_FAILED``); nothing is known to be written then.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal, Optional, Union

import redis
import redis.asyncio
import redis.exceptions as redis_errors

from . import _native
from ._common import check_int
from .errors import FENCED_WRITE_FAILED, INVALID_INPUT, FencedWriteFailed, InvalidInput

__all__ = ["AsyncRedisFenceGuard", "FenceGuard", "RedisFenceGuard", "SqlFenceGuard"]


class FenceGuard:
    """In memory: admits a token only if it is ``>=`` the highest admitted so far
    (the core's guard). ``highest`` resumes from a persisted token."""

    __slots__ = ("_guard",)

    def __init__(self, highest: Optional[int] = None) -> None:
        self._guard = _native.FenceGuard(check_int(highest, "highest", allow_none=True))

    def admit(self, token: int) -> bool:
        """Records ``token`` and returns ``True``, or returns ``False`` for a stale token."""
        return self._guard.admit(_token(token))

    @property
    def highest(self) -> Optional[int]:
        """The highest token admitted so far, or ``None``."""
        return self._guard.highest

    def __repr__(self) -> str:
        return repr(self._guard)


_SCRIPT = _native.REDIS_FENCED_SET
_SHA1 = _native.REDIS_FENCED_SET_SHA1

Value = Union[str, bytes, int, float]


def _token(token: object) -> int:
    checked = check_int(token, "token")
    assert checked is not None
    return checked


def _failed(what: str, e: BaseException) -> FencedWriteFailed:
    return FencedWriteFailed(FENCED_WRITE_FAILED, f"fenced write to {what} failed: {e!r}")


def _admitted(reply: Any, token: int) -> bool:
    if not isinstance(reply, int):
        raise redis_errors.InvalidResponse(f"fenced set answered {reply!r}")
    return reply == token


class RedisFenceGuard:
    """A value in Redis that only current holders can write.

    Keys: ``<name>:fence`` holds the highest admitted token, ``<name>:data`` the
    value. :meth:`write` is one atomic script run: it writes only if ``token`` is
    at least the highest admitted, and records it.
    """

    def __init__(self, client: redis.Redis, name: str) -> None:
        if not isinstance(client, redis.Redis):
            raise InvalidInput(INVALID_INPUT, "RedisFenceGuard needs a redis.Redis client")
        if not isinstance(name, str) or not name:
            raise InvalidInput(INVALID_INPUT, "name must be a non-empty str")
        self._client: Any = client
        self.fence_key = f"{name}:fence"
        self.data_key = f"{name}:data"

    def write(self, token: int, value: Value) -> bool:
        """Writes ``value`` with ``token``; ``False`` (nothing written) if a later
        holder already wrote with a higher token."""
        token = _token(token)
        args = (2, self.fence_key, self.data_key, token, value)
        try:
            try:
                reply = self._client.execute_command("EVALSHA", _SHA1, *args)
            except redis_errors.NoScriptError:
                reply = self._client.execute_command("EVAL", _SCRIPT, *args)
            return _admitted(reply, token)
        except redis_errors.RedisError as e:
            raise _failed(self.data_key, e) from e

    def read(self) -> Any:
        """The current value (``None`` if never written)."""
        return self._client.get(self.data_key)

    def highest(self) -> int:
        """The highest token admitted so far (0 if none)."""
        return int(self._client.get(self.fence_key) or 0)


class AsyncRedisFenceGuard:
    """:class:`RedisFenceGuard` for ``redis.asyncio.Redis``."""

    def __init__(self, client: redis.asyncio.Redis, name: str) -> None:
        if not isinstance(client, redis.asyncio.Redis):
            raise InvalidInput(
                INVALID_INPUT, "AsyncRedisFenceGuard needs a redis.asyncio.Redis client"
            )
        if not isinstance(name, str) or not name:
            raise InvalidInput(INVALID_INPUT, "name must be a non-empty str")
        self._client: Any = client
        self.fence_key = f"{name}:fence"
        self.data_key = f"{name}:data"

    async def write(self, token: int, value: Value) -> bool:
        """Writes ``value`` with ``token``; ``False`` if a later holder already wrote."""
        token = _token(token)
        args = (2, self.fence_key, self.data_key, token, value)
        try:
            try:
                reply = await self._client.execute_command("EVALSHA", _SHA1, *args)
            except redis_errors.NoScriptError:
                reply = await self._client.execute_command("EVAL", _SCRIPT, *args)
            return _admitted(reply, token)
        except redis_errors.RedisError as e:
            raise _failed(self.data_key, e) from e

    async def read(self) -> Any:
        """The current value (``None`` if never written)."""
        return await self._client.get(self.data_key)

    async def highest(self) -> int:
        """The highest token admitted so far (0 if none)."""
        return int(await self._client.get(self.fence_key) or 0)


ParamStyle = Literal["numeric_dollar", "format", "qmark"]


class SqlFenceGuard:
    """The fenced ``UPDATE`` for a row of a SQL table::

        UPDATE table SET c1 = ?, ..., fence_token = ? WHERE id = ? AND fence_token <= ?

    ``paramstyle``: ``"numeric_dollar"`` (``$1``: asyncpg, psycopg's RawCursor),
    ``"format"`` (``%s``: psycopg, PyMySQL) or ``"qmark"`` (``?``: sqlite3).
    One affected row means the write was admitted; zero means a later holder
    already wrote (or the row does not exist). Identifiers must be plain
    (``[A-Za-z_][A-Za-z0-9_]*``), else ``InvalidInput`` ``INVALID_IDENTIFIER``.
    """

    def __init__(
        self,
        table: str,
        columns: Sequence[str],
        *,
        fence_column: str = "fence_token",
        key_column: str = "id",
        paramstyle: ParamStyle = "numeric_dollar",
    ) -> None:
        if isinstance(columns, str):
            raise InvalidInput(INVALID_INPUT, "columns must be a list of column names")
        names = list(columns)
        for name in (table, fence_column, key_column, *names):
            if not isinstance(name, str):
                raise InvalidInput(INVALID_INPUT, f"identifiers must be str, got {name!r}")
        dollar: str = _native.fenced_update_sql(table, names, fence_column, key_column)
        self.columns = tuple(names)
        parts = re.split(r"\$(\d+)", dollar)
        self._order: Optional[tuple[int, ...]]
        if paramstyle == "numeric_dollar":
            self.sql = dollar
            self._order = None
        elif paramstyle in ("format", "qmark"):
            marker = "%s" if paramstyle == "format" else "?"
            self.sql = marker.join(parts[0::2])
            self._order = tuple(int(n) for n in parts[1::2])
        else:
            raise InvalidInput(INVALID_INPUT, f"unknown paramstyle {paramstyle!r}")
        self.paramstyle = paramstyle

    def params(self, values: Sequence[Any], token: int, key: Any) -> tuple[Any, ...]:
        """The parameters for :attr:`sql`: the new column values, the token, the row key."""
        if isinstance(values, (str, bytes)) or len(values) != len(self.columns):
            raise InvalidInput(
                INVALID_INPUT, f"expected {len(self.columns)} values for {self.columns}"
            )
        numbered = (*values, _token(token), key)
        if self._order is None:
            return numbered
        return tuple(numbered[i - 1] for i in self._order)

    def write(self, cursor: Any, values: Sequence[Any], token: int, key: Any) -> bool:
        """Runs the update on a DB-API cursor; ``True`` if the row was written,
        ``False`` if a later holder already wrote. A database error raises
        :class:`FencedWriteFailed` (the driver's exception is the ``__cause__``)."""
        params = self.params(values, token, key)
        try:
            cursor.execute(self.sql, params)
            return bool(cursor.rowcount == 1)
        except Exception as e:
            raise _failed(self.sql.split(" ", 2)[1], e) from e
