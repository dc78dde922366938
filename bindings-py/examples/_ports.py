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


def etcd_endpoints() -> list[str]:
    """``FENCELOCK_ETCD_ENDPOINTS`` (``servers.sh start-etcd``), else 127.0.0.1:2379."""
    return os.environ.get("FENCELOCK_ETCD_ENDPOINTS", "127.0.0.1:2379").split(",")


def zookeeper_hosts() -> str:
    """``FENCELOCK_ZK_ENDPOINTS`` (``servers.sh start-zookeeper``), else 127.0.0.1:2181."""
    return os.environ.get("FENCELOCK_ZK_ENDPOINTS", "127.0.0.1:2181")


def postgres_conninfo() -> str:
    """PostgreSQL on ``FENCELOCK_PG_PORT`` (``servers.sh start-postgres``), else 5432."""
    port = os.environ.get("FENCELOCK_PG_PORT", "5432")
    return f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
