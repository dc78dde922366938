// etcd lease mutex and election against a real etcd (one member, started here),
// over both transports: the etcd3 gRPC client and the JSON gateway with fetch.
// 50 concurrent workers on one fenced counter, interop with a real Go holder
// (etcdctl lock), a lease revoked under its holder, a queue place lost while
// waiting, an election with proclaim / observe / resign.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { after, before, describe, test } from 'node:test'

import { Etcd3 } from 'etcd3'

import { EtcdElection, EtcdLock, LockLostError, LockNotAcquiredError, type EtcdGatewayOptions } from 'fencelock'

import { contendFenced, increasing } from './support/fenced.mjs'
import { awaitBusy, haveCommand, liveAvailable, sleep, startServers, unique, type Started } from './support/servers.mjs'

const skip = !liveAvailable ? 'conformance/live/servers.sh not found' : !haveCommand('etcd') ? 'etcd not installed' : false

describe('live etcd', { skip }, () => {
  let servers: Started
  let endpoint: string
  let client: Etcd3

  before(async () => {
    servers = await startServers('start-etcd')
    endpoint = servers.list('FENCELOCK_ETCD_ENDPOINTS')[0]!
    client = new Etcd3({ hosts: `http://${endpoint}` })
  })

  after(async () => {
    client?.close()
    await servers?.stop()
  })

  const transports: [string, () => Etcd3 | EtcdGatewayOptions][] = [
    ['etcd3 (gRPC)', () => client],
    ['the JSON gateway (fetch)', () => ({ endpoints: [`http://${endpoint}`] })],
  ]

  for (const [label, transport] of transports) {
    test(`50 concurrent workers on one lock over ${label}: no overlap, tokens increase, every fenced write admitted`, async () => {
      const lock = new EtcdLock(transport(), { ttlSecs: 5 })
      const name = unique('etcd-counter')
      const tally = await contendFenced({ workers: 50, target: 150, acquire: () => lock.acquire(name, { timeout: 30_000 }), limit: 90_000 })
      assert.deepStrictEqual(tally.errors, [])
      assert.ok(tally.acquisitions >= 150, `only ${tally.acquisitions} acquisitions`)
      assert.strictEqual(tally.overlaps, 0, 'two holders at once')
      assert.strictEqual(tally.staleWrites, 0, 'a fenced write was rejected')
      assert.strictEqual(tally.lost, 0)
      assert.ok(increasing(tally.tokens), 'tokens must strictly increase')
      assert.strictEqual(tally.counter, tally.acquisitions)
      const left = await client.getAll().prefix(`${name}/`).keys()
      assert.deepStrictEqual(left, [], 'every key was deleted')
    })

    test(`a lease revoked under its holder over ${label}: the signal aborts (revoked)`, async () => {
      const lock = new EtcdLock(transport(), { ttlSecs: 3 })
      const lease = await lock.acquire(unique('etcd-revoked'))
      assert.strictEqual(lease.state, 'held')
      assert.match(lease.key, /\/[0-9a-f]+$/)
      await client.leaseClient.leaseRevoke({ ID: lease.leaseId })
      const reason = await awaitBusy(new Promise<unknown>((resolve) => lease.signal.addEventListener('abort', () => resolve(lease.signal.reason), { once: true })), 15_000)
      assert.ok(reason instanceof LockLostError)
      assert.strictEqual(reason.reason, 'revoked')
      assert.strictEqual(lease.lostReason, 'revoked')
      await assert.rejects(lease.extend(), LockLostError)
      assert.strictEqual(await lease.release(), 'already_expired')
    })

    test(`a queue place lost while waiting over ${label}: the machine cleans up, acquire rejects with LockLostError`, async () => {
      const lock = new EtcdLock(transport(), { ttlSecs: 3 })
      const name = unique('etcd-queued')
      const holder = await lock.acquire(name)
      const waiting = lock.acquire(name, { timeout: 20_000 })
      // Find the waiter's key (the second under the name) and revoke its lease.
      let waiterLease: string | undefined
      for (let i = 0; i < 100 && waiterLease === undefined; i++) {
        const kvs = await client.kv.range({ key: Buffer.from(`${name}/`), range_end: Buffer.from(`${name}0`) })
        waiterLease = kvs.kvs.find((kv) => kv.key.toString() !== holder.key)?.lease
        if (waiterLease === undefined) await sleep(20)
      }
      assert.ok(waiterLease !== undefined, 'the waiter queued a key')
      await client.leaseClient.leaseRevoke({ ID: waiterLease })
      await assert.rejects(awaitBusy(waiting), (e: unknown) => e instanceof LockLostError && ['revoked', 'key_deleted'].includes(e.reason))
      const keys = await client.getAll().prefix(`${name}/`).keys()
      assert.deepStrictEqual(keys, [holder.key], "the waiter's key is gone, the holder's stays")
      assert.strictEqual(await holder.release(), 'released')
    })
  }

  test('interop with a real Go holder (etcdctl lock): each side waits for the other', { skip: haveCommand('etcdctl') ? false : 'etcdctl not installed' }, async () => {
    const name = unique('etcd-interop')
    for (const [, transport] of transports) {
      const lock = new EtcdLock(transport(), { ttlSecs: 5 })
      // A Go holder blocks us.
      const go = spawn('etcdctl', [`--endpoints=${endpoint}`, 'lock', name, '--', 'sleep', '2'], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'ignore' })
      const exited = new Promise<void>((resolve) => go.on('exit', () => resolve()))
      let goKey: string | undefined
      for (let i = 0; i < 100 && goKey === undefined; i++) {
        goKey = (await client.getAll().prefix(`${name}/`).keys())[0]
        if (goKey === undefined) await sleep(20)
      }
      assert.ok(goKey !== undefined, 'etcdctl took the lock')
      await assert.rejects(lock.acquire(name, { tryLock: true }), (e: unknown) => e instanceof LockNotAcquiredError && e.reason === 'locked')
      const started = performance.now()
      const lease = await lock.acquire(name, { timeout: 10_000 })
      let goDone = false
      await exited.then(() => (goDone = true))
      assert.ok(goDone && performance.now() - started > 500, 'our lock waited for the Go holder')
      // We block a Go waiter until we release.
      const waiter = spawn('etcdctl', [`--endpoints=${endpoint}`, 'lock', name, '--', 'echo', 'go-ran'], { env: { ...process.env, ETCDCTL_API: '3' } })
      let output = ''
      waiter.stdout.on('data', (d: Buffer) => (output += d.toString()))
      const waiterDone = new Promise<void>((resolve) => waiter.on('exit', () => resolve()))
      await sleep(700)
      assert.strictEqual(output, '', 'the Go waiter ran its command while we held the lock')
      assert.strictEqual(await lease.release(), 'released')
      await waiterDone
      assert.match(output, /go-ran/)
    }
  })

  for (const [label, transport] of transports) {
    test(`an election over ${label}: campaign, leader, proclaim, observe, resign`, async () => {
      const election = new EtcdElection(transport(), { ttlSecs: 5 })
      const name = unique('etcd-election')
      assert.strictEqual(await election.leader(name), null)
      const first = await election.campaign(name, 'alpha')
      const second = election.campaign(name, 'beta')
      const observed = election.observe(name)
      assert.strictEqual((await observed.next()).value?.value, 'alpha')
      assert.strictEqual(await first.proclaim('alpha-2'), true)
      assert.strictEqual((await observed.next()).value?.value, 'alpha-2')
      assert.strictEqual((await election.leader(name))?.revision, first.fencingToken)
      assert.strictEqual(await first.resign(), 'released')
      const next = await second
      let seen = (await observed.next()).value
      while (seen !== null && seen?.value !== 'beta') seen = (await observed.next()).value
      if (seen === null) seen = (await observed.next()).value
      assert.strictEqual(seen?.value, 'beta')
      assert.ok(BigInt(next.fencingToken) > BigInt(first.fencingToken))
      await observed.return?.()
      assert.strictEqual(await next.resign(), 'released')
    })
  }
})
