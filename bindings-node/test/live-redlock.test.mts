// Redlock against five real redis-server masters (plus a sixth holding the
// fenced counter), with ioredis and with node-redis: 50 concurrent workers,
// lease lifecycle, `await using`, cancellation, NOSCRIPT fallback, metrics.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { Redis } from 'ioredis'
import { createClient } from 'redis'

import {
  LockLostError,
  LockNotAcquiredError,
  RedisFence,
  Redlock,
  UsageError,
  type Lease,
  type RedlockEventPayload,
} from 'fencelock'

import { contend, newTally, strictlyIncreasing } from './support/contention.mjs'
import { liveAvailable, sleep, startRedis, unique, type Servers } from './support/servers.mjs'

function connectNodeRedis(port: number) {
  const client = createClient({ socket: { port, host: '127.0.0.1' } })
  client.on('error', () => {}) // a stopped master must not crash the test process
  return client.connect()
}
type NodeRedisClient = Awaited<ReturnType<typeof connectNodeRedis>>

describe('live Redlock', { skip: liveAvailable ? false : 'conformance/live/servers.sh not found' }, () => {
  let servers: Servers
  let masters: number[]
  let ioClients: Redis[] = []
  let nodeClients: NodeRedisClient[] = []
  let resourceClient: Redis

  before(async () => {
    servers = await startRedis(6)
    masters = servers.ports.slice(0, 5)
    ioClients = masters.map((port) => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 2 }))
    nodeClients = await Promise.all(masters.map(connectNodeRedis))
    resourceClient = new Redis({ port: servers.ports[5], host: '127.0.0.1' })
  })

  after(async () => {
    for (const c of ioClients) c.disconnect()
    await Promise.all(nodeClients.map((c) => c.quit().catch(() => {})))
    resourceClient?.disconnect()
    await servers?.stop()
  })

  const contention = (name: string, clients: () => object[]) =>
    test(`50 concurrent workers on one lock with ${name}: no overlap, tokens increase, every fenced write admitted`, async () => {
      const redlock = new Redlock(clients(), { ttl: 2_000, retry: { backoff: 'fixed', baseDelay: 10, jitter: 8, maxAttempts: null } })
      const resource = unique('counter')
      const fence = new RedisFence(resourceClient, resource)
      const target = 200
      const tally = newTally()
      await contend({
        workers: 50,
        until: () => tally.acquisitions >= target,
        redlock: () => redlock,
        lock: unique('lock'),
        fence,
        read: async () => Number((await resourceClient.get(`${resource}:data`)) ?? '0'),
        tally,
        limit: 60_000,
      })
      assert.deepStrictEqual(tally.errors, [])
      assert.strictEqual(tally.acquisitions >= target, true, `only ${tally.acquisitions} acquisitions`)
      assert.strictEqual(tally.overlaps, 0, 'two holders at once')
      assert.strictEqual(tally.staleWrites, 0, 'a fenced write was rejected')
      assert.strictEqual(tally.writesPastValidity, 0, 'a holder wrote past its validity')
      assert.ok(strictlyIncreasing(tally.tokens), 'tokens must strictly increase')
      assert.strictEqual(Number(await resourceClient.get(`${resource}:data`)), tally.acquisitions)
    })

  contention('ioredis', () => ioClients)
  contention('node-redis', () => nodeClients)

  test('a lease: token, validity, remaining(), extend(), release(); using it after release is a UsageError', async () => {
    const redlock = new Redlock(ioClients, { ttl: 5_000 })
    const lease = await redlock.acquire(unique('life'))
    assert.strictEqual(typeof lease.fencingToken, 'number')
    assert.strictEqual(lease.state, 'held')
    assert.ok(lease.remaining() > 4_000 && lease.remaining() <= 5_000 - 52)
    assert.strictEqual(lease.stats.attempts, 1)
    const before = lease.validUntil
    await sleep(5)
    assert.strictEqual(await lease.extend(), true)
    assert.ok(lease.validUntil > before)
    assert.strictEqual(lease.signal.aborted, false)
    assert.strictEqual(await lease.release(), 'released')
    assert.strictEqual(lease.state, 'released')
    assert.strictEqual(lease.remaining(), 0)
    await assert.rejects(lease.release(), (e: unknown) => e instanceof UsageError && e.code === 'INVALID_STATE')
    await assert.rejects(lease.extend(), (e: unknown) => e instanceof UsageError && e.code === 'INVALID_STATE')
    await lease[Symbol.asyncDispose]() // no-op once released
  })

  test('await using releases the lease at the end of the scope', async () => {
    const redlock = new Redlock(nodeClients, { ttl: 5_000 })
    const lock = unique('using')
    let held: Lease | undefined
    {
      await using lease = await redlock.acquire(lock)
      held = lease
      assert.strictEqual(lease.state, 'held')
    }
    assert.strictEqual(held.state, 'released')
    // Free again: a single attempt gets it at once.
    const again = await redlock.acquire(lock, { retry: { maxAttempts: 1 } })
    assert.strictEqual(again.stats.attempts, 1)
    await again.release()
  })

  test('two resources are locked together; a conflicting single-resource lock is refused', async () => {
    const redlock = new Redlock(ioClients, { ttl: 5_000 })
    const [a, b] = [unique('multi-a'), unique('multi-b')]
    const lease = await redlock.acquire([b, a])
    assert.deepStrictEqual(lease.resources, [a, b].sort())
    await assert.rejects(
      redlock.acquire(b, { retry: { maxAttempts: 2, baseDelay: 5, jitter: 0 } }),
      (e: unknown) => e instanceof LockNotAcquiredError && e.reason === 'attempts_exhausted' && e.stats.contended === 2
    )
    assert.strictEqual(await lease.release(), 'released')
  })

  test('an expired lease aborts its signal (reason expired); releasing it is not an error', async () => {
    const redlock = new Redlock(ioClients, { ttl: 150 })
    const lease = await redlock.acquire(unique('expire'))
    const reason = await new Promise<unknown>((resolve) => lease.signal.addEventListener('abort', () => resolve(lease.signal.reason)))
    assert.ok(reason instanceof LockLostError)
    assert.strictEqual(reason.reason, 'expired')
    assert.strictEqual(reason.code, 'LEASE_LOST')
    assert.strictEqual(lease.lostReason, 'expired')
    await assert.rejects(lease.extend(), (e: unknown) => e === reason)
    await sleep(30) // the keys' TTL ends a little after the validity
    assert.strictEqual(await lease.release(), 'already_expired')
  })

  test('an AbortSignal cancels a waiting acquisition', async () => {
    const redlock = new Redlock(ioClients, { ttl: 5_000 })
    const lock = unique('cancel')
    const holder = await redlock.acquire(lock)
    const controller = new AbortController()
    const started = performance.now()
    setTimeout(() => controller.abort(new Error('shutting down')), 50)
    await assert.rejects(
      redlock.acquire(lock, { signal: controller.signal, retry: { maxAttempts: null, baseDelay: 10, backoff: 'fixed' } }),
      (e: unknown) =>
        e instanceof LockNotAcquiredError && e.reason === 'cancelled' && (e.cause as Error).message === 'shutting down'
    )
    assert.ok(performance.now() - started < 1_000)
    const aborted = AbortSignal.abort(new Error('already'))
    await assert.rejects(redlock.acquire(lock, { signal: aborted }), (e: unknown) => (e as Error).message === 'already')
    await holder.release()
  })

  test('EVALSHA falls back to EVAL after SCRIPT FLUSH (ioredis and node-redis)', async () => {
    for (const clients of [ioClients, nodeClients] as object[][]) {
      await Promise.all(ioClients.map((c) => c.script('FLUSH')))
      const redlock = new Redlock(clients, { ttl: 5_000 })
      const lease = await redlock.acquire(unique('noscript'))
      assert.strictEqual(lease.stats.attempts, 1)
      assert.strictEqual(await lease.release(), 'released')
    }
  })

  test('events report latency, attempts, contention and hold time', async () => {
    const seen: RedlockEventPayload[] = []
    const redlock = new Redlock(ioClients, { ttl: 5_000, onEvent: (e) => seen.push(e) })
    const acquired: RedlockEventPayload[] = []
    redlock.events.on('acquired', (e: RedlockEventPayload) => acquired.push(e))
    const lock = unique('events')
    const lease = await redlock.acquire(lock)
    await sleep(20)
    await lease.release()
    assert.strictEqual(acquired.length, 1)
    const event = acquired[0] as RedlockEventPayload & { stats: { latency: number; attempts: number; contended: number } }
    assert.deepStrictEqual(event.resources, [lock])
    assert.strictEqual(event.stats.attempts, 1)
    assert.strictEqual(event.stats.contended, 0)
    const released = seen.find((e) => e.type === 'released') as RedlockEventPayload & { heldFor: number; outcome: string }
    assert.ok(released.heldFor >= 15, `heldFor ${released.heldFor}`)
    assert.strictEqual(released.outcome, 'released')
  })
})
