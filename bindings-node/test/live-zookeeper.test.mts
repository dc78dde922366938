// ZooKeeper lock and election against real ZooKeeper, with node-zookeeper-client:
// 20 concurrent clients (own sessions) on a fenced counter; a holder cut off
// by a TCP proxy past its session timeout reports the loss before the waiter
// gets the lock with a higher token; an election; bad input.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { after, before, describe, test } from 'node:test'

import { InvalidInputError, LockLostError, LockNotAcquiredError, ZooKeeperElection, ZooKeeperLock } from 'fencelock'

import { contendFenced, increasing } from './support/fenced.mjs'
import { startProxy } from './support/proxy.mjs'
import { awaitBusy, liveAvailable, startServers, unique, until, type Started } from './support/servers.mjs'

const require = createRequire(import.meta.url)
const zookeeper = require('node-zookeeper-client') as typeof import('node-zookeeper-client')

const installed = existsSync('/usr/share/zookeeper/bin/zkServer.sh')
const skip = !liveAvailable ? 'conformance/live/servers.sh not found' : !installed ? 'zookeeper not installed' : false

/** A connected client with a session of its own. */
async function connect(connectString: string, sessionTimeout = 4_000) {
  const client = zookeeper.createClient(connectString, { sessionTimeout, spinDelay: 100, retries: 0 })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ZooKeeper session on ${connectString}`)), 15_000)
    client.once('connected', () => {
      clearTimeout(timer)
      resolve()
    })
    client.connect()
  })
  return client
}

describe('live ZooKeeper (one server)', { skip }, () => {
  let servers: Started
  let endpoint: string
  const clients: ReturnType<typeof zookeeper.createClient>[] = []

  before(async () => {
    servers = await startServers('start-zookeeper')
    endpoint = servers.list('FENCELOCK_ZK_ENDPOINTS')[0]!
  })

  after(async () => {
    for (const c of clients) c.close()
    await servers?.stop()
  })

  test('20 concurrent clients on one lock: no overlap, czxid tokens increase, every fenced write admitted', async () => {
    const locks = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const client = await connect(endpoint)
        clients.push(client)
        return new ZooKeeperLock(client)
      })
    )
    const path = `/fencelock/${unique('zk-counter')}`
    const tally = await contendFenced({ workers: 20, target: 100, acquire: (w) => locks[w]!.acquire(path, { timeout: 30_000 }), limit: 90_000 })
    assert.deepStrictEqual(tally.errors, [])
    assert.ok(tally.acquisitions >= 100, `only ${tally.acquisitions} acquisitions`)
    assert.strictEqual(tally.overlaps, 0, 'two holders at once')
    assert.strictEqual(tally.staleWrites, 0)
    assert.strictEqual(tally.lost, 0)
    assert.ok(increasing(tally.tokens), 'tokens must strictly increase')
    assert.ok(tally.tokens.every((t) => typeof t === 'bigint'), 'tokens are BigInt')
    assert.strictEqual(tally.counter, tally.acquisitions)
    const children = await new Promise<string[]>((resolve, reject) =>
      clients[0]!.getChildren(path, (e: unknown, c: string[]) => (e ? reject(e) : resolve(c)))
    )
    assert.deepStrictEqual(children, [], 'every node was deleted')
  })

  test('try-lock, node layout, session owner, release', async () => {
    const client = await connect(endpoint)
    clients.push(client)
    const lock = new ZooKeeperLock(client)
    const path = `/fencelock/${unique('zk-layout')}`
    const lease = await lock.acquire(path, { value: 'worker-1' })
    assert.match(lease.node, new RegExp(`^${path}/[0-9a-f-]{36}-lock-[0-9]{10}$`))
    assert.strictEqual(lease.session, client.getSessionId().readBigUInt64BE(0).toString())
    assert.ok(lease.remaining() > 0 && lease.remaining() <= client.getSessionTimeout())
    await assert.rejects(lock.acquire(path, { tryLock: true }), (e: unknown) => e instanceof LockNotAcquiredError && e.reason === 'locked')
    assert.strictEqual(await lease.release(), 'released')
    await assert.rejects(lease.release(), { code: 'INVALID_STATE' })
    assert.throws(() => new ZooKeeperLock({}), InvalidInputError)
    await assert.rejects(lock.acquire('relative/path'), { code: 'INVALID_NAME' })
  })

  test('a holder cut off past its session timeout: lost (expired) first, then the waiter gets a higher token', async () => {
    const port = Number(endpoint.split(':')[1])
    const proxy = await startProxy(port)
    try {
      const cutClient = await connect(`127.0.0.1:${proxy.port}`)
      const other = await connect(endpoint)
      clients.push(cutClient, other)
      const path = `/fencelock/${unique('zk-expiry')}`
      const holder = await new ZooKeeperLock(cutClient).acquire(path)
      const waiting = new ZooKeeperLock(other).acquire(path, { timeout: 30_000 })
      waiting.catch(() => {})
      const cutAt = performance.now()
      proxy.cut()
      assert.ok(await until(() => holder.signal.aborted, 15_000), 'the holder learned of the loss')
      const lostAfter = performance.now() - cutAt
      const reason = holder.signal.reason
      assert.ok(reason instanceof LockLostError)
      assert.ok(['expired', 'session_expired'].includes(reason.reason), reason.reason)
      const next = await awaitBusy(waiting, 30_000)
      const gotAfter = performance.now() - cutAt
      assert.ok(gotAfter >= lostAfter, `the waiter got the lock ${gotAfter} ms after the cut, before the holder's loss at ${lostAfter} ms`)
      assert.ok(next.fencingToken > holder.fencingToken, 'the next token is higher')
      proxy.heal()
      assert.strictEqual(await awaitBusy(next.release()), 'released')
      // The cut-off holder's release sends nothing more once its session is gone.
      const outcome = await awaitBusy(holder.release(), 30_000)
      assert.ok(['already_expired', 'released'].includes(outcome), outcome)
    } finally {
      await proxy.close()
    }
  })

  test('an election: the lowest node leads; resign hands over', async () => {
    const a = await connect(endpoint)
    const b = await connect(endpoint)
    clients.push(a, b)
    const path = `/fencelock/${unique('zk-election')}`
    const first = await new ZooKeeperElection(a).campaign(path, 'alpha')
    const second = new ZooKeeperElection(b).campaign(path, 'beta')
    assert.strictEqual(first.state, 'held')
    assert.strictEqual(await first.resign(), 'released')
    const next = await awaitBusy(second)
    assert.ok(next.fencingToken > first.fencingToken)
    assert.strictEqual(await next.resign(), 'released')
  })
})
