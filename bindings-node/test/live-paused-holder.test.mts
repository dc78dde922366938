// A holder whose process is paused (SIGSTOP) past its validity: meanwhile
// another holder acquires with a higher token and writes; when the paused
// holder resumes, its late write is refused by the fenced resource (RedisFence)
// and by an in-memory FenceGuard, and its release does not report `released`.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { describe, test } from 'node:test'

import { Redis } from 'ioredis'

import { FenceGuard, RedisFence, Redlock } from 'fencelock'

import { liveAvailable, sleep, startRedis, unique } from './support/servers.mjs'

describe('live: a paused holder', { skip: liveAvailable ? false : 'conformance/live/servers.sh not found' }, () => {
  test("a holder stalled past its validity has its late write rejected by the FenceGuard", async () => {
    const servers = await startRedis(6)
    const masters = servers.ports.slice(0, 5)
    const clients = masters.map((port) => new Redis({ port, host: '127.0.0.1' }))
    const resourceClient = new Redis({ port: servers.ports[5], host: '127.0.0.1' })
    const lock = unique('paused')
    const resourceName = unique('paused-res')
    const ttl = 500
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL('./fixtures/holder.mjs', import.meta.url)), masters.join(','), String(servers.ports[5]), lock, resourceName, String(ttl)],
      { stdio: ['pipe', 'pipe', 'inherit'] }
    )
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
    const next = async () => JSON.parse(String((await lines.next()).value))
    try {
      const guard = new FenceGuard()
      const a = await next()
      assert.strictEqual(a.event, 'acquired')
      assert.strictEqual(a.accepted, true)
      assert.deepStrictEqual(guard.admit(a.token), { accepted: true })

      // Pause A for longer than its TTL, and let B take the lock meanwhile.
      child.kill('SIGSTOP')
      const redlock = new Redlock(clients, { ttl: 5_000, retry: { maxAttempts: null, backoff: 'fixed', baseDelay: 20 } })
      const b = await redlock.acquire(lock, { timeout: 5_000 })
      const tokenB = b.fencingToken as number
      assert.ok(tokenB > a.token, `B's token ${tokenB} must exceed A's ${a.token}`)
      const fence = new RedisFence(resourceClient, resourceName)
      assert.deepStrictEqual(await fence.write(tokenB, 'b-1'), { accepted: true, highest: tokenB })
      assert.deepStrictEqual(guard.admit(tokenB), { accepted: true })
      await sleep(ttl)

      // A resumes and writes with its stale token: refused.
      child.kill('SIGCONT')
      child.stdin.write('write\n')
      const late = await next()
      assert.strictEqual(late.event, 'wrote')
      assert.strictEqual(late.accepted, false, 'the stale write must be rejected')
      assert.strictEqual(late.highest, tokenB)
      assert.notStrictEqual(late.outcome, 'released')
      assert.strictEqual(late.outcome, 'held_by_other')
      assert.strictEqual(late.lostReason, 'expired')
      assert.strictEqual(late.aborted, true)
      assert.deepStrictEqual(guard.admit(a.token), { accepted: false, highest: tokenB })
      assert.strictEqual(await resourceClient.get(`${resourceName}:data`), 'b-1')
      assert.strictEqual(await b.release(), 'released')
      await once(child, 'exit')
    } finally {
      child.kill('SIGCONT')
      child.kill('SIGKILL')
      for (const c of clients) c.disconnect()
      resourceClient.disconnect()
      await servers.stop()
    }
  })
})
