"""Fixtures: the local servers the live tests run against.

``servers`` is the shared Redis set (5 masters + 1 resource Redis): the one named
by ``FENCELOCK_REDIS_PORTS`` / ``FENCELOCK_REDIS_PIDS`` (``scripts/test.sh`` starts
it with ``conformance/live/servers.sh``), or one started here the same way.
Tests that stop or kill masters get their own fresh set (``fresh_servers``), so
the shared set stays healthy.

``etcd``, ``zookeeper`` and ``postgres`` are one server each, started here with
``servers.sh`` the first time a test asks for one (so test order never matters)
and shared by the session; ``zookeeper_ensemble`` is a fresh 3-server ensemble for
the one test that kills its leader. Every server started here is stopped at the
end, also on failure (they live under ``FENCELOCK_SERVERS_DIR`` when set, which
``scripts/test.sh`` also cleans up).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry as RedisRetry

# ----- zero skips --------------------------------------------------------------------------

_NOT_RUN: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Every test must run: a skipped or xfailed one is recorded..."""
    if report.skipped:
        _NOT_RUN.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """...and fails the session."""
    if _NOT_RUN and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _NOT_RUN:
        terminalreporter.write_line(
            f"{len(_NOT_RUN)} test(s) skipped or xfailed; every test must run:", red=True
        )
        for nodeid in _NOT_RUN:
            terminalreporter.write_line(f"  {nodeid}")


def repo_root() -> Path:
    for parent in Path(__file__).resolve().parents:
        if (parent / "conformance" / "live" / "servers.sh").is_file():
            return parent
    raise RuntimeError("conformance/live/servers.sh not found")


SERVERS_SH = repo_root() / "conformance" / "live" / "servers.sh"


@dataclass
class Servers:
    """Redis servers on 127.0.0.1: ``ports[:5]`` are the masters, ``ports[5]`` (if any)
    holds the fenced resource."""

    ports: list[int]
    pids: list[int]
    directory: Path | None = None

    @property
    def masters(self) -> list[int]:
        return self.ports[:5]

    @property
    def resource(self) -> int:
        return self.ports[5]

    def stop(self, i: int) -> None:
        os.kill(self.pids[i], signal.SIGSTOP)

    def resume(self, i: int) -> None:
        os.kill(self.pids[i], signal.SIGCONT)

    def kill(self, i: int) -> None:
        os.kill(self.pids[i], signal.SIGKILL)

    def sync_clients(self, **kwargs: Any) -> list[redis.Redis]:
        return [sync_client(p, **kwargs) for p in self.masters]

    def async_clients(self, **kwargs: Any) -> list[redis.asyncio.Redis]:
        return [async_client(p, **kwargs) for p in self.masters]


def _client_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    # Short socket timeouts and no client-side retries: a stopped master must
    # fail its requests quickly instead of holding connections and threads.
    out: dict[str, Any] = {
        "host": "127.0.0.1",
        "socket_timeout": 2.0,
        "socket_connect_timeout": 0.5,
        "retry": RedisRetry(NoBackoff(), 0),
    }
    out.update(kwargs)
    return out


def sync_client(port: int, **kwargs: Any) -> redis.Redis:
    return redis.Redis(port=port, **_client_kwargs(kwargs))


def async_client(port: int, **kwargs: Any) -> redis.asyncio.Redis:
    return redis.asyncio.Redis(port=port, **_client_kwargs(kwargs))


def _read_env(path: Path) -> tuple[list[int], list[int]]:
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    ports = [int(p) for p in values["FENCELOCK_REDIS_PORTS"].split(",")]
    pids = [int(p) for p in values["FENCELOCK_REDIS_PIDS"].split(",")]
    return ports, pids


def start_servers(n: int, directory: Path) -> Servers:
    subprocess.run(
        [str(SERVERS_SH), "start-redis", str(n), str(directory)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    ports, pids = _read_env(directory / "env")
    return Servers(ports, pids, directory)


def stop_servers(servers: Servers) -> None:
    if servers.directory is not None:
        for pid in servers.pids:  # a stopped server must be able to act on TERM
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        subprocess.run(
            [str(SERVERS_SH), "stop", str(servers.directory)],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def _base_dir() -> Path:
    base = os.environ.get("FENCELOCK_SERVERS_DIR")
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
        return Path(base)
    return Path(tempfile.gettempdir())


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    ports = os.environ.get("FENCELOCK_REDIS_PORTS")
    pids = os.environ.get("FENCELOCK_REDIS_PIDS")
    if ports and pids and len(ports.split(",")) >= 6:
        yield Servers([int(p) for p in ports.split(",")], [int(p) for p in pids.split(",")])
        return
    directory = Path(tempfile.mkdtemp(prefix="py-shared-", dir=_base_dir()))
    started = start_servers(6, directory)
    try:
        yield started
    finally:
        stop_servers(started)


@pytest.fixture
def fresh_servers() -> Iterator[Callable[[int], Servers]]:
    """Starts a new set of ``n`` servers (stopped after the test)."""
    started: list[Servers] = []

    def start(n: int = 6) -> Servers:
        directory = Path(tempfile.mkdtemp(prefix="py-fresh-", dir=_base_dir()))
        s = start_servers(n, directory)
        started.append(s)
        return s

    try:
        yield start
    finally:
        for s in started:
            stop_servers(s)


# ----- etcd, ZooKeeper, PostgreSQL ---------------------------------------------------------


@dataclass
class Started:
    """Servers started with ``servers.sh``: what their env file says."""

    directory: Path
    env: dict[str, str]

    def values(self, key: str) -> list[str]:
        return [v for v in self.env[key].split(",") if v]

    def stop(self) -> None:
        subprocess.run(
            [str(SERVERS_SH), "stop", str(self.directory)],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def start(command: str, *args: str) -> Started:
    """Runs ``servers.sh command [args] DIR`` in a new directory."""
    directory = Path(tempfile.mkdtemp(prefix=f"py-{command}-", dir=_base_dir()))
    subprocess.run(
        [str(SERVERS_SH), command, *args, str(directory)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    env = dict(
        line.split("=", 1) for line in (directory / "env").read_text().splitlines() if "=" in line
    )
    return Started(directory, env)


@dataclass
class Etcd:
    endpoints: list[str]
    pids: list[int]


@dataclass
class ZooKeeper:
    endpoints: list[str]
    pids: list[int]

    @property
    def hosts(self) -> str:
        return ",".join(self.endpoints)


@dataclass
class Postgres:
    port: int
    pid: int

    @property
    def conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres connect_timeout=5"


@pytest.fixture(scope="session")
def etcd() -> Iterator[Etcd]:
    started = start("start-etcd")
    try:
        yield Etcd(
            started.values("FENCELOCK_ETCD_ENDPOINTS"),
            [int(p) for p in started.values("FENCELOCK_ETCD_PIDS")],
        )
    finally:
        started.stop()


@pytest.fixture(scope="session")
def zookeeper() -> Iterator[ZooKeeper]:
    started = start("start-zookeeper")
    try:
        yield ZooKeeper(
            started.values("FENCELOCK_ZK_ENDPOINTS"),
            [int(p) for p in started.values("FENCELOCK_ZK_PIDS")],
        )
    finally:
        started.stop()


@pytest.fixture
def zookeeper_ensemble() -> Iterator[ZooKeeper]:
    """A fresh 3-server ensemble (stopped after the test)."""
    started = start("start-zookeeper-ensemble", "3")
    try:
        yield ZooKeeper(
            started.values("FENCELOCK_ZK_ENSEMBLE_ENDPOINTS"),
            [int(p) for p in started.values("FENCELOCK_ZK_ENSEMBLE_PIDS")],
        )
    finally:
        started.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    started = start("start-postgres")
    try:
        yield Postgres(int(started.env["FENCELOCK_PG_PORT"]), int(started.env["FENCELOCK_PG_PIDS"]))
    finally:
        started.stop()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A resource name no other test (or earlier run) uses."""
    return f"{request.node.name}-{os.urandom(4).hex()}"


class FakeRedis(redis.Redis):
    """A redis.Redis that never connects: every script answers 1 (a grant with
    fencing counter 1, a confirmed extension, one key released)."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        return 1

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        return _FakePipeline()


class FakeAsyncRedis(redis.asyncio.Redis):
    """The asyncio twin of :class:`FakeRedis`."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        return 1

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        return _FakeAsyncPipeline()


def fake_clients(n: int = 5) -> list[redis.Redis]:
    return [FakeRedis(port=40000 + i) for i in range(n)]


def fake_async_clients(n: int = 5) -> list[redis.asyncio.Redis]:
    return [FakeAsyncRedis(port=40000 + i) for i in range(n)]


class _FakePipeline:
    def __init__(self) -> None:
        self.count = 0

    def execute_command(self, *args: Any, **options: Any) -> _FakePipeline:
        self.count += 1
        return self

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        return [1] * self.count


class _FakeAsyncPipeline(_FakePipeline):
    async def execute(self, raise_on_error: bool = True) -> list[Any]:  # type: ignore[override]
        return [1] * self.count
