"""An asyncio Redlock: ``async with``, watching for loss while working."""

from __future__ import annotations

import asyncio

import redis.asyncio

from fencelock import AsyncRedisFenceGuard, AsyncRedlock, LockLost

from _ports import masters, resource


async def work(guard: AsyncRedisFenceGuard, token: int) -> None:
    for step in range(3):
        await guard.write(token, f"step {step}")
        await asyncio.sleep(0.01)


async def main() -> None:
    clients = [redis.asyncio.Redis(port=p, socket_timeout=1.0) for p in masters()]
    redlock = AsyncRedlock(clients, ttl=5.0)
    guard = AsyncRedisFenceGuard(redis.asyncio.Redis(port=resource()), "example:job")

    async with redlock("cron:nightly", timeout=1.0) as lease:
        token = lease.fencing_token
        assert token is not None
        job = asyncio.ensure_future(work(guard, token))
        lost = asyncio.ensure_future(lease.lost.wait())
        done, _ = await asyncio.wait({job, lost}, return_when=asyncio.FIRST_COMPLETED)
        if lost in done:
            job.cancel()
            raise LockLost("LEASE_LOST", "the job lost its lease", lease.lost_reason or "expired")
        lost.cancel()
        print(f"job done with token {token}; stats: {redlock.stats.snapshot()}")


if __name__ == "__main__":
    asyncio.run(main())
