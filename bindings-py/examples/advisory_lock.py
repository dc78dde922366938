"""PostgreSQL: an advisory lock with a fencing token, and a fenced UPDATE with it."""

from __future__ import annotations

import asyncio

import psycopg

from fencelock import AdvisoryLock, AsyncAdvisoryLock, LockLost, SessionNotPinned, SqlFenceGuard

from _ports import postgres_conninfo

# UPDATE accounts SET balance = %s, fence_token = %s WHERE id = %s AND fence_token <= %s
ACCOUNTS = SqlFenceGuard("accounts", ["balance"], paramstyle="format")


def main() -> None:
    conninfo = postgres_conninfo()
    with psycopg.connect(conninfo, autocommit=True) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS accounts "
            "(id text PRIMARY KEY, balance bigint NOT NULL, fence_token bigint NOT NULL)"
        )
        db.execute("INSERT INTO accounts VALUES ('a', 0, 0) ON CONFLICT DO NOTHING")

        # One connection per held lock: here a new one each time (a pool works too).
        locks = AdvisoryLock(conninfo, check_interval=1.0)
        try:
            with locks("accounts:a", timeout=5.0) as lease:
                # The write goes through another session; the row refuses older tokens.
                admitted = ACCOUNTS.write(db.cursor(), [100], lease.fencing_token, "a")
                print(f"token {lease.fencing_token}: write admitted: {admitted}")
                lease.check()
        except SessionNotPinned:
            print("a transaction-mode pooler is in the way: use a direct connection")
        except LockLost as e:
            print(f"lost ({e.reason}): the session ended")


async def from_asyncio() -> None:
    conn = await psycopg.AsyncConnection.connect(postgres_conninfo(), autocommit=True)
    async with conn, AsyncAdvisoryLock(conn)("accounts:a", timeout=5.0) as lease:
        print(f"held from asyncio by backend {lease.pid}, token {lease.fencing_token}")


if __name__ == "__main__":
    main()
    asyncio.run(from_asyncio())
