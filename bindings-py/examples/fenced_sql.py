"""Fencing a SQL row: the stale holder's UPDATE changes nothing."""

from __future__ import annotations

import sqlite3

from fencelock import FenceGuard, SqlFenceGuard


def main() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE seats (id TEXT PRIMARY KEY, owner TEXT, fence_token INT)")
    db.execute("INSERT INTO seats VALUES ('12A', NULL, 0)")
    seats = SqlFenceGuard("seats", ["owner"], paramstyle="qmark")
    print(seats.sql)
    assert seats.write(db.cursor(), ["alice"], 34, "12A")  # holder with token 34
    assert not seats.write(db.cursor(), ["bob"], 33, "12A")  # a paused, stale holder
    print(db.execute("SELECT owner, fence_token FROM seats").fetchone())

    memory = FenceGuard()
    print([memory.admit(t) for t in (5, 5, 4, 6)])  # [True, True, False, True]


if __name__ == "__main__":
    main()
