"""Metrics and logs: an event hook, the stats object, the ``fencelock`` logger."""

from __future__ import annotations

import logging
from typing import Any

import redis

from fencelock import Redlock

from _ports import masters


def on_event(resources: tuple[str, ...], event: dict[str, Any]) -> None:
    name = ",".join(resources)
    if event["type"] == "acquired":
        stats = event["stats"]
        print(f"{name}: acquired in {stats['latency']} ms, {stats['attempts']} attempt(s)")
    elif event["type"] == "released":
        print(f"{name}: held {event['held_for']} ms, {event['outcome']}")


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("fencelock").setLevel(logging.DEBUG)
    redlock = Redlock([redis.Redis(port=p) for p in masters()], ttl=5.0, on_event=on_event)
    for _ in range(5):
        with redlock("report:daily"):
            pass
    snapshot = redlock.stats.snapshot()
    print(f"p50 {snapshot['latency_p50'] * 1e3:.1f} ms, p95 {snapshot['latency_p95'] * 1e3:.1f} ms")
    print(snapshot)


if __name__ == "__main__":
    main()
