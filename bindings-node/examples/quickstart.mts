// Lock a resource on five Redis masters, write to a fenced resource with the
// lease's token, and let `await using` release the lease.
import { Redis } from 'ioredis'

import { LockNotAcquiredError, RedisFence, Redlock } from 'fencelock'

const ports = [7001, 7002, 7003, 7004, 7005]
const redlock = new Redlock(
  ports.map((port) => new Redis({ port })),
  { ttl: 10_000, retry: { maxAttempts: 10, baseDelay: 100 } }
)
const accounts = new RedisFence(new Redis({ port: 7006 }), 'accounts:42')

try {
  await using lease = await redlock.acquire('orders:42', { timeout: 5_000 })
  console.log(`held until ${lease.validUntil} (${lease.remaining()} ms left), token ${lease.fencingToken}`)
  const write = await accounts.write(lease.fencingToken ?? 0, JSON.stringify({ balance: 100 }))
  if (!write.accepted) console.log(`a later holder (token ${write.highest}) already wrote`)
} catch (e) {
  if (e instanceof LockNotAcquiredError) console.log(`busy: ${e.reason} after ${e.stats.attempts} attempts`)
  else throw e
}
