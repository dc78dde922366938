// ZooKeeper lock on a 3-server ensemble: the leader is SIGKILLed while the lock
// is held and contended by 10 clients. Sessions move to the surviving servers;
// holders never overlap, tokens strictly increase, every fenced write is admitted.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { connect as tcp } from 'node:net'
import { after, before, describe, test } from 'node:test'

import { ZooKeeperLock } from 'fencelock'

import { contendFenced, increasing } from './support/fenced.mjs'
import { liveAvailable, sleep, startServers, unique, type Started } from './support/servers.mjs'

const require = createRequire(import.meta.url)
const zookeeper = require('node-zookeeper-client') as typeof import('node-zookeeper-client')

const installed = existsSync('/usr/share/zookeeper/bin/zkServer.sh')
const skip = !liveAvailable ? 'conformance/live/servers.sh not found' : !installed ? 'zookeeper not installed' : false

/** `leader`, `follower`, `standalone`, or null: what a server says to `srvr`. */
function mode(endpoint: string): Promise<string | null> {
  const [host, port] = endpoint.split(':')
  return new Promise((resolve) => {
    let text = ''
    const socket = tcp({ host: host!, port: Number(port) }, () => socket.write('srvr'))
    socket.setTimeout(1_000, () => socket.destroy())
    socket.on('data', (d) => (text += d.toString()))
    socket.on('error', () => resolve(null))
    socket.on('close', () => resolve(/Mode: (\w+)/.exec(text)?.[1] ?? null))
  })
}

async function connect(connectString: string) {
  const client = zookeeper.createClient(connectString, { sessionTimeout: 8_000, spinDelay: 100, retries: 0 })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no ZooKeeper session')), 20_000)
    client.once('connected', () => {
      clearTimeout(timer)
      resolve()
    })
    client.connect()
  })
  return client
}

describe('live ZooKeeper (3-server ensemble)', { skip }, () => {
  let servers: Started
  const clients: ReturnType<typeof zookeeper.createClient>[] = []

  before(async () => {
    servers = await startServers('start-zookeeper-ensemble', '3')
  })

  after(async () => {
    for (const c of clients) c.close()
    await servers?.stop()
  })

  test('the leader SIGKILLed while the lock is held and contended by 10 clients', async () => {
    const endpoints = servers.list('FENCELOCK_ZK_ENSEMBLE_ENDPOINTS')
    const pids = servers.list('FENCELOCK_ZK_ENSEMBLE_PIDS').map(Number)
    const connectString = endpoints.join(',')
    const locks = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const client = await connect(connectString)
        clients.push(client)
        return new ZooKeeperLock(client)
      })
    )
    const path = `/fencelock/${unique('zk-failover')}`
    let killedAt = 0
    let killed = -1
    const tally = await contendFenced({
      workers: 10,
      target: 120,
      limit: 120_000,
      hold: 5,
      acquire: (w) => locks[w]!.acquire(path, { timeout: 60_000 }),
      onAcquired: async (n) => {
        if (n !== 30) return
        const modes = await Promise.all(endpoints.map(mode))
        killed = modes.indexOf('leader')
        assert.ok(killed >= 0, `no leader among ${modes.join(', ')}`)
        process.kill(pids[killed]!, 'SIGKILL')
        killedAt = n
      },
    })
    assert.ok(killed >= 0 && killedAt > 0, `the leader was killed mid-run (${tally.acquisitions} acquisitions; ${tally.errors.map(String).join('; ')})`)
    // A new leader among the survivors.
    let modes: (string | null)[] = []
    for (let i = 0; i < 50; i++) {
      modes = await Promise.all(endpoints.map(mode))
      if (modes.includes('leader')) break
      await sleep(100)
    }
    assert.ok(modes.includes('leader'), `no new leader: ${modes.join(', ')}`)
    assert.deepStrictEqual(tally.errors, [])
    assert.ok(tally.acquisitions >= 120, `only ${tally.acquisitions} acquisitions (${tally.failedAcquires} failed, ${tally.lost} lost)`)
    assert.ok(tally.acquisitions - killedAt >= 60, 'acquisitions went on after the kill')
    assert.strictEqual(tally.overlaps, 0, 'two holders at once')
    assert.strictEqual(tally.staleWrites, 0, 'a fenced write was rejected')
    assert.ok(increasing(tally.tokens), 'tokens must strictly increase')
    assert.strictEqual(tally.counter, tally.acquisitions)
  })
})
