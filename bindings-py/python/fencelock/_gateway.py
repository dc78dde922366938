"""HTTP for the etcd v3 JSON gateway, from the standard library only.

The core encodes every command as a ``POST /v3/...`` request (path and JSON body)
and decodes every response body and watch-stream line; this module only moves
bytes:

- sync: :mod:`http.client` (HTTP/1.1 keep-alive), one connection per endpoint per
  worker thread; a small pool of daemon worker threads runs requests (several may
  be in flight for one machine: a keep-alive while a watch waits), and every watch
  gets a thread and a connection of its own, read line by line and shut down on
  ``cancel_watch``;
- asyncio: a minimal HTTP/1.1 client over :func:`asyncio.open_connection`
  (``Content-Length`` and chunked bodies, keep-alive, a pool of idle connections
  per endpoint); a watch is a task reading the chunked stream, cancelled on
  ``cancel_watch``.

Requests go to the endpoint that answered last; one that cannot be connected to
moves on to the next (a killed cluster member). A connection the server closed
while it sat idle is retried once on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import queue
import socket
import ssl
import threading
import weakref
from collections import deque
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from ._common import logger
from ._threads import IDLE_SECONDS
from .errors import INVALID_INPUT, InvalidInput

MAX_WORKERS = 64
"""Most worker threads per gateway (more requests wait for one)."""

MAX_LINE = 16 * 1024 * 1024
"""Longest watch line read (the core refuses longer bodies too)."""


class GatewayFailure(Exception):
    """A request that got no response: ``kind`` is the machine's error kind
    (``connection`` or ``timeout``)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(kind, message)
        self.kind = kind
        self.message = message


class Endpoint:
    """One cluster member's gateway: ``http://host:port`` or ``https://...``."""

    __slots__ = ("host", "port", "tls", "url")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not text:
            raise InvalidInput(INVALID_INPUT, f"an etcd endpoint must be a str, got {text!r}")
        url = text if "://" in text else f"http://{text}"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(
                INVALID_INPUT, f"etcd endpoint {text!r} is not host:port or http(s)://host:port"
            )
        try:
            port = parts.port
        except ValueError:
            raise InvalidInput(INVALID_INPUT, f"etcd endpoint {text!r} has a bad port") from None
        if parts.path not in ("", "/"):
            raise InvalidInput(INVALID_INPUT, f"etcd endpoint {text!r} has a path")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = port or (443 if self.tls else 2379)
        self.url = f"{parts.scheme}://{self.host}:{self.port}"


def parse_endpoints(endpoints: object) -> list[Endpoint]:
    if isinstance(endpoints, str):
        endpoints = [e for e in endpoints.split(",") if e.strip()]
    if isinstance(endpoints, (bytes, bytearray)) or not isinstance(endpoints, (list, tuple)):
        raise InvalidInput(
            INVALID_INPUT,
            f"endpoints must be a str or a list of str, got {type(endpoints).__name__}",
        )
    parsed = [Endpoint(e.strip() if isinstance(e, str) else e) for e in endpoints]
    if not parsed:
        raise InvalidInput(INVALID_INPUT, "no etcd endpoint given")
    return parsed


class Gateway:
    """The cluster's gateway endpoints, the one that answered last first."""

    def __init__(
        self,
        endpoints: object,
        *,
        headers: Optional[dict[str, str]],
        timeout: float,
        ssl_context: Optional[ssl.SSLContext],
    ) -> None:
        self.endpoints = parse_endpoints(endpoints)
        if headers is not None and (
            not isinstance(headers, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
        ):
            raise InvalidInput(INVALID_INPUT, "headers must be a dict of str to str")
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.preferred = 0

    def _tls(self) -> ssl.SSLContext:
        if self.ssl_context is None:
            self.ssl_context = ssl.create_default_context()
        return self.ssl_context

    # ----- sync ------------------------------------------------------------------------

    def _connection(self, index: int, timeout: Optional[float]) -> http.client.HTTPConnection:
        e = self.endpoints[index]
        if e.tls:
            return http.client.HTTPSConnection(e.host, e.port, timeout=timeout, context=self._tls())
        return http.client.HTTPConnection(e.host, e.port, timeout=timeout)

    def _exchange(self, conn: http.client.HTTPConnection, path: str, body: bytes) -> bytes:
        conn.request("POST", path, body, self.headers)
        response = conn.getresponse()
        # The status is not looked at: etcd's errors are JSON bodies the core reads.
        return response.read()

    def post(self, conns: dict[int, http.client.HTTPConnection], path: str, body: bytes) -> bytes:
        """``POST path`` with ``body``; returns the response body (any status).
        ``conns`` are the calling thread's connections, by endpoint."""
        n = len(self.endpoints)
        start = self.preferred
        last = "no endpoint"
        for i in range(n):
            index = (start + i) % n
            conn = conns.get(index)
            if conn is None:
                conn = conns[index] = self._connection(index, self.timeout)
            reused = conn.sock is not None
            if not reused:
                try:
                    conn.connect()
                except OSError as e:
                    conn.close()
                    last = f"{self.endpoints[index].url}: {e}"
                    continue
            try:
                try:
                    data = self._exchange(conn, path, body)
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                    conn.close()
                    if not reused:
                        raise
                    # An idle connection the server had closed: once more, on a new one.
                    try:
                        conn.connect()
                    except OSError as e:
                        conn.close()
                        last = f"{self.endpoints[index].url}: {e}"
                        continue
                    data = self._exchange(conn, path, body)
            except (socket.timeout, TimeoutError) as e:
                conn.close()
                raise GatewayFailure("timeout", f"{self.endpoints[index].url}{path}: {e}") from None
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                raise GatewayFailure(
                    "connection", f"{self.endpoints[index].url}{path}: {e!r}"
                ) from None
            if i:
                self.preferred = index
            return data
        raise GatewayFailure("connection", f"no etcd endpoint answered ({last})")

    def open_watch(self, path: str, body: bytes) -> tuple[http.client.HTTPConnection, Any]:
        """Opens a watch stream on the first endpoint that accepts: the connection
        (its own) and the response to read lines from."""
        n = len(self.endpoints)
        start = self.preferred
        last = "no endpoint"
        for i in range(n):
            index = (start + i) % n
            conn = self._connection(index, self.timeout)
            try:
                conn.connect()
            except OSError as e:
                conn.close()
                last = f"{self.endpoints[index].url}: {e}"
                continue
            try:
                conn.request("POST", path, body, self.headers)
                response = conn.getresponse()
                # The stream has no deadline of its own: the machine closes it
                # (cancel_watch) when it re-reads.
                if conn.sock is not None:
                    conn.sock.settimeout(None)
            except (socket.timeout, TimeoutError) as e:
                conn.close()
                raise GatewayFailure("timeout", f"{self.endpoints[index].url}{path}: {e}") from None
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                raise GatewayFailure(
                    "connection", f"{self.endpoints[index].url}{path}: {e!r}"
                ) from None
            return conn, response
        raise GatewayFailure("connection", f"no etcd endpoint answered ({last})")

    # ----- asyncio ---------------------------------------------------------------------

    async def _open_async(self, index: int) -> _AsyncConn:
        e = self.endpoints[index]
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                e.host, e.port, ssl=self._tls() if e.tls else None, limit=MAX_LINE
            ),
            self.timeout,
        )
        return _AsyncConn(index, reader, writer)

    def _request(self, index: int, path: str, body: bytes) -> bytes:
        e = self.endpoints[index]
        head = [f"POST {path} HTTP/1.1", f"Host: {e.host}:{e.port}"]
        head += [f"{k}: {v}" for k, v in self.headers.items()]
        head.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body

    async def post_async(self, pool: AsyncPool, path: str, body: bytes) -> bytes:
        """``POST path`` with ``body`` on the running loop; the response body."""
        n = len(self.endpoints)
        start = self.preferred
        last = "no endpoint"
        for i in range(n):
            index = (start + i) % n
            conn = pool.take(index)
            reused = conn is not None
            if conn is None:
                try:
                    conn = await self._open_async(index)
                except (OSError, asyncio.TimeoutError) as e:
                    last = f"{self.endpoints[index].url}: {e!r}"
                    continue
            try:
                try:
                    data, keep = await asyncio.wait_for(
                        conn.exchange(self._request(index, path, body)), self.timeout
                    )
                except (ConnectionError, asyncio.IncompleteReadError):
                    conn.close()
                    if not reused:
                        raise
                    try:
                        conn = await self._open_async(index)
                    except (OSError, asyncio.TimeoutError) as e:
                        last = f"{self.endpoints[index].url}: {e!r}"
                        continue
                    data, keep = await asyncio.wait_for(
                        conn.exchange(self._request(index, path, body)), self.timeout
                    )
            except asyncio.TimeoutError:
                conn.close()
                raise GatewayFailure(
                    "timeout", f"{self.endpoints[index].url}{path}: no response in {self.timeout} s"
                ) from None
            except asyncio.CancelledError:
                conn.close()
                raise
            except (OSError, asyncio.IncompleteReadError, ValueError, EOFError) as e:
                conn.close()
                raise GatewayFailure(
                    "connection", f"{self.endpoints[index].url}{path}: {e!r}"
                ) from None
            if keep:
                pool.give(conn)
            else:
                conn.close()
            if i:
                self.preferred = index
            return data
        raise GatewayFailure("connection", f"no etcd endpoint answered ({last})")

    async def watch_async(self, path: str, body: bytes, on_line: Callable[[bytes], bool]) -> None:
        """Opens a watch stream and hands each non-blank line to ``on_line`` until it
        returns ``True`` (the machine got its answer). Raises :class:`GatewayFailure`
        if the stream cannot be opened or ends first."""
        n = len(self.endpoints)
        start = self.preferred
        last = "no endpoint"
        for i in range(n):
            index = (start + i) % n
            try:
                conn = await self._open_async(index)
            except (OSError, asyncio.TimeoutError) as e:
                last = f"{self.endpoints[index].url}: {e!r}"
                continue
            try:
                conn.writer.write(self._request(index, path, body))
                await conn.writer.drain()
                headers = await asyncio.wait_for(conn.read_head(), self.timeout)
                buffered = b""
                async for chunk in conn.body_chunks(headers):
                    buffered += chunk
                    while True:
                        newline = buffered.find(b"\n")
                        if newline < 0:
                            break
                        line, buffered = buffered[:newline], buffered[newline + 1 :]
                        if line.strip() and on_line(line):
                            return
                    if len(buffered) > MAX_LINE:
                        raise GatewayFailure("connection", "a watch line longer than 16 MiB")
                if buffered.strip() and on_line(buffered):
                    return
                raise GatewayFailure("connection", "watch stream ended")
            except asyncio.TimeoutError:
                raise GatewayFailure(
                    "timeout", f"{self.endpoints[index].url}{path}: no response in {self.timeout} s"
                ) from None
            except (OSError, asyncio.IncompleteReadError, ValueError, EOFError) as e:
                raise GatewayFailure(
                    "connection", f"{self.endpoints[index].url}{path}: {e!r}"
                ) from None
            finally:
                conn.close()
        raise GatewayFailure("connection", f"no etcd endpoint answered ({last})")


class _AsyncConn:
    """One HTTP/1.1 connection on the running loop."""

    __slots__ = ("index", "reader", "writer")

    def __init__(
        self, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.index = index
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()

    async def read_head(self) -> dict[str, str]:
        status = await self.reader.readline()
        if not status:
            raise ConnectionResetError("the server closed the connection")
        parts = status.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP/1.x status line: {status[:80]!r}")
        headers: dict[str, str] = {":version": parts[0].decode("latin-1")}
        while True:
            line = await self.reader.readline()
            if not line:
                raise asyncio.IncompleteReadError(b"", None)
            if line in (b"\r\n", b"\n"):
                return headers
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()

    async def body_chunks(self, headers: dict[str, str]) -> Any:
        """The body's bytes as they arrive (chunked, sized, or to the end)."""
        reader = self.reader
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size_line = await reader.readline()
                if not size_line:
                    raise asyncio.IncompleteReadError(b"", None)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                data = await reader.readexactly(size)
                await reader.readexactly(2)
                yield data
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if length:
                yield await reader.readexactly(length)
        else:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                yield data

    async def exchange(self, request: bytes) -> tuple[bytes, bool]:
        """Sends one request; returns the response body and whether the connection
        can be used again."""
        self.writer.write(request)
        await self.writer.drain()
        headers = await self.read_head()
        parts = [chunk async for chunk in self.body_chunks(headers)]
        keep = (
            headers[":version"] == "HTTP/1.1"
            and headers.get("connection", "").lower() != "close"
            and ("content-length" in headers or "transfer-encoding" in headers)
        )
        return b"".join(parts), keep


class AsyncPool:
    """Idle gateway connections of one event loop, by endpoint."""

    __slots__ = ("idle",)

    MAX_IDLE = 32

    def __init__(self) -> None:
        self.idle: dict[int, deque[_AsyncConn]] = {}

    def take(self, index: int) -> Optional[_AsyncConn]:
        idle = self.idle.get(index)
        while idle:
            conn = idle.pop()
            if not conn.reader.at_eof() and not conn.writer.is_closing():
                return conn
            conn.close()
        return None

    def give(self, conn: _AsyncConn) -> None:
        idle = self.idle.setdefault(conn.index, deque())
        if len(idle) >= self.MAX_IDLE:
            conn.close()
        else:
            idle.append(conn)


# ----- sync workers ----------------------------------------------------------------------


Job = Callable[[dict[int, http.client.HTTPConnection]], None]


class Workers:
    """Daemon threads that run gateway requests, each with its own connections.
    A thread starts when a job finds none idle (up to :data:`MAX_WORKERS`) and
    exits after :data:`IDLE_SECONDS` without work."""

    def __init__(self, name: str = "fencelock-etcd") -> None:
        self.name = name
        self.jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.threads = 0
        self.idle = 0
        _all_workers.add(self)

    def submit(self, job: Job) -> None:
        self.jobs.put(job)
        with self.lock:
            if self.idle > 0:
                self.idle -= 1  # an idle worker takes it
                return
            if self.threads >= MAX_WORKERS:
                return  # it waits for the next free worker
            self.threads += 1
        threading.Thread(target=self._run, name=self.name, daemon=True).start()

    def _run(self) -> None:
        conns: dict[int, http.client.HTTPConnection] = {}
        jobs = self.jobs
        try:
            while True:
                try:
                    job = jobs.get(timeout=IDLE_SECONDS)
                except queue.Empty:
                    with self.lock:
                        if jobs.empty():
                            self.threads -= 1
                            self.idle = max(0, self.idle - 1)
                            return
                    continue
                try:
                    job(conns)
                except BaseException:  # pragma: no cover - jobs report their own failures
                    logger.exception("fencelock etcd worker job failed")
                del job
                with self.lock:
                    self.idle += 1
        finally:
            for conn in conns.values():
                conn.close()


_all_workers: weakref.WeakSet[Workers] = weakref.WeakSet()


def _after_fork() -> None:
    # Threads do not survive fork(): the child starts them again on demand.
    for workers in list(_all_workers):
        workers.jobs = queue.SimpleQueue()
        workers.lock = threading.Lock()
        workers.threads = 0
        workers.idle = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class SyncWatch:
    """One watch stream, read on a thread of its own until a line answers it or it
    is cancelled (its socket shut down)."""

    __slots__ = ("cancelled", "conn", "lock")

    def __init__(self) -> None:
        self.cancelled = False
        self.conn: Optional[http.client.HTTPConnection] = None
        self.lock = threading.Lock()

    def attach(self, conn: http.client.HTTPConnection) -> bool:
        """Records the stream's connection; ``False`` if it was cancelled already."""
        with self.lock:
            if self.cancelled:
                return False
            self.conn = conn
            return True

    def cancel(self) -> None:
        with self.lock:
            self.cancelled = True
            conn = self.conn
        if conn is not None and conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
