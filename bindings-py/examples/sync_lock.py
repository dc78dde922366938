"""A sync Redlock: the context manager, the explicit API, loss and fencing."""

from __future__ import annotations

import redis

from fencelock import LockLost, LockNotAcquired, RedisFenceGuard, Redlock, Retry

from _ports import masters, resource


def main() -> None:
    clients = [redis.Redis(port=p, socket_timeout=1.0) for p in masters()]
    redlock = Redlock(clients, ttl=10.0, retry=Retry.exponential(0.05, 1.0, 0.05))
    account = RedisFenceGuard(redis.Redis(port=resource()), "example:account")

    # The usual form: acquire (or raise LockNotAcquired), work, release.
    with redlock("orders:42", timeout=5.0) as lease:
        token = lease.fencing_token
        assert token is not None
        print(f"held with token {token}, {lease.remaining():.3f} s of validity left")
        if not account.write(token, "paid"):
            print("a later holder already wrote; our write was refused")

    # The explicit form, with several resources locked together.
    lock = redlock("orders:42", "orders:43")
    try:
        lease = lock.acquire(timeout=2.0)
    except LockNotAcquired as e:
        print(f"not acquired: {e.reason} after {e.stats['attempts']} attempts")
        return
    try:
        lease.check()  # raises LockLost once the lease is gone
        print("extended:", lease.extend(), "valid until", lease.valid_until)
    except LockLost as e:
        print(f"lost ({e.reason}); stop touching the resource")
    finally:
        print("release:", lock.release())


if __name__ == "__main__":
    main()
