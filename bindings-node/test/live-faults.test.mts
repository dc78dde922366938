// Faults on real masters: one master SIGSTOPped and another SIGKILLed in the
// middle of a contended run (exclusion and fencing hold, the lock is still
// acquired with a quorum), and `using` whose auto-extension fails when a
// majority stops (its signal aborts before the validity ends; the routine's
// own error is never masked).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { Redis } from 'ioredis'

import { LockLostError, RedisFence, Redlock } from 'fencelock'

import { contend, newTally, strictlyIncreasing } from './support/contention.mjs'
import { liveAvailable, sleep, startRedis, unique } from './support/servers.mjs'

const STOPPED = 1
const KILLED = 4

describe('live Redlock under faults', { skip: liveAvailable ? false : 'conformance/live/servers.sh not found' }, () => {
  test('a master SIGSTOPped and another SIGKILLed mid-run: no overlap, tokens increase, no stale write', async () => {
    const servers = await startRedis(6)
    const clients = servers.ports
      .slice(0, 5)
      .map((port) => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => 100 }))
    for (const c of clients) c.on('error', () => {})
    const resourceClient = new Redis({ port: servers.ports[5], host: '127.0.0.1' })
    try {
      const redlock = new Redlock(clients, { ttl: 1_000, retry: { backoff: 'fixed', baseDelay: 10, jitter: 8, maxAttempts: null } })
      const resource = unique('faults-counter')
      const fence = new RedisFence(resourceClient, resource)
      const lock = unique('faults')
      const tally = newTally()
      let target = 0
      const phase = async (count: number) => {
        target += count
        const started = performance.now()
        await contend({
          workers: 8,
          until: () => tally.acquisitions >= target && performance.now() - started > 700,
          redlock: () => redlock,
          lock,
          fence,
          read: async () => Number((await resourceClient.get(`${resource}:data`)) ?? '0'),
          tally,
          timeout: 5_000,
          limit: 30_000,
        })
      }
      await phase(20)
      process.kill(servers.pids[STOPPED]!, 'SIGSTOP')
      process.kill(servers.pids[KILLED]!, 'SIGKILL')
      const beforeFaults = tally.acquisitions
      await phase(20)
      assert.ok(tally.acquisitions - beforeFaults >= 20, 'acquired with 3 of 5 masters')
      process.kill(servers.pids[STOPPED]!, 'SIGCONT')
      await phase(20)
      assert.deepStrictEqual(tally.errors, [])
      assert.strictEqual(tally.overlaps, 0, 'two holders at once')
      assert.strictEqual(tally.staleWrites, 0, 'a fenced write was rejected')
      assert.strictEqual(tally.writesPastValidity, 0)
      assert.ok(strictlyIncreasing(tally.tokens), 'tokens must strictly increase')
      assert.strictEqual(Number(await resourceClient.get(`${resource}:data`)), tally.acquisitions)
    } finally {
      for (const c of clients) c.disconnect()
      resourceClient.disconnect()
      await servers.stop()
    }
  })

  test('using: a majority stops, auto-extension fails, the signal aborts before validity ends; errors are not masked', async () => {
    const servers = await startRedis(5)
    const clients = servers.ports.map((port) => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 }))
    for (const c of clients) c.on('error', () => {})
    const majority = servers.pids.slice(0, 3)
    try {
      const redlock = new Redlock(clients, { ttl: 600 })
      // 1. The routine returns normally after observing the abort.
      const seen = await redlock.using(unique('using-lost'), async (signal, lease) => {
        assert.strictEqual(lease.state, 'held')
        for (const pid of majority) process.kill(pid, 'SIGSTOP')
        const reason = await new Promise<unknown>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('signal not aborted within 3 s')), 3_000)
          signal.addEventListener('abort', () => {
            clearTimeout(timer)
            resolve(signal.reason)
          })
        })
        const abortedAt = performance.now()
        for (const pid of majority) process.kill(pid, 'SIGCONT')
        return { reason, abortedAt, validUntil: lease.validUntil, state: lease.state }
      })
      assert.ok(seen.reason instanceof LockLostError)
      assert.strictEqual(seen.reason.reason, 'extension_failed')
      assert.strictEqual(seen.state, 'lost')
      assert.ok(seen.abortedAt < seen.validUntil, `aborted at ${seen.abortedAt}, valid until ${seen.validUntil}`)

      // 2. The routine throws while the lease is lost and the release cannot reach
      // a quorum: `using` rethrows the routine's error, promptly.
      const mine = new Error('the routine failed')
      const started = { at: 0 }
      await assert.rejects(
        redlock.using(unique('using-throw'), async (signal) => {
          for (const pid of majority) process.kill(pid, 'SIGSTOP')
          await new Promise((resolve) => signal.addEventListener('abort', resolve))
          started.at = performance.now()
          throw mine
        }),
        (e: unknown) => e === mine
      )
      assert.ok(performance.now() - started.at < 1_000, 'release after a lost lease must not hang')
      for (const pid of majority) process.kill(pid, 'SIGCONT')
      await sleep(50)
    } finally {
      for (const pid of majority) {
        try {
          process.kill(pid, 'SIGCONT')
        } catch {}
      }
      for (const c of clients) c.disconnect()
      await servers.stop()
    }
  })
})
