// The wasm build inside workerd (npm `workerd`), against real servers on
// loopback: a Worker takes and releases an etcd lock through the JSON gateway
// with fetch, and a Redlock over RESP sockets (connect()) on five redis-server
// masters. The test calls the Worker over loopback HTTP and checks tokens, and
// that a second request contends correctly.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { startServers, startWorkerd } from './support/servers.mjs'

/** @type {ReturnType<typeof startServers>} */
let servers
/** @type {Awaited<ReturnType<typeof startWorkerd>>} */
let workerd

before(async () => {
  servers = startServers({ redis: 5, etcd: true })
  workerd = await startWorkerd({
    etcd: servers.etcd,
    masters: servers.ports.map((p) => `127.0.0.1:${p}`).join(','),
    resource: `127.0.0.1:${servers.ports[0]}`,
  })
})

after(() => {
  workerd?.stop()
  servers?.stop()
})

/** @param {string} path @returns {Promise<any>} */
async function call(path) {
  const response = await fetch(`${workerd.url}${path}`)
  const body = await response.json()
  return body
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms))

describe('workerd: etcd lock through the JSON gateway (fetch, polling)', () => {
  test('a worker takes and releases the lock; tokens increase', async () => {
    const first = await call('/etcd?name=w-etcd&hold=0')
    assert.equal(first.ok, true, JSON.stringify(first))
    assert.equal(first.outcome, 'released')
    assert.match(first.key, /^w-etcd\/[0-9a-f]+$/)
    const second = await call('/etcd?name=w-etcd&hold=0')
    assert.equal(second.ok, true, JSON.stringify(second))
    assert.ok(second.token > first.token, `${second.token} > ${first.token}`)
  })

  test('a second request contends: a try-lock fails with locked, a waiter gets the next token', async () => {
    const holder = call('/etcd?name=w-etcd-c&hold=800')
    await sleep(300)
    const tried = await call('/etcd?name=w-etcd-c&try=1')
    assert.equal(tried.ok, false, JSON.stringify(tried))
    assert.equal(tried.code, 'LOCK_NOT_ACQUIRED')
    assert.equal(tried.reason, 'locked')
    const waiter = await call('/etcd?name=w-etcd-c&hold=0&timeout=5000')
    const held = await holder
    assert.equal(held.ok, true, JSON.stringify(held))
    assert.equal(waiter.ok, true, JSON.stringify(waiter))
    assert.equal(waiter.queued, true, 'the waiter queued behind the holder')
    assert.ok(waiter.token > held.token, `${waiter.token} > ${held.token}`)
  })
})

describe('workerd: Redlock over RESP sockets on 5 redis-server masters', () => {
  test('a worker takes and releases the lock; tokens increase', async () => {
    const first = await call('/redlock?name=w-redlock&hold=0')
    assert.equal(first.ok, true, JSON.stringify(first))
    assert.equal(first.outcome, 'released')
    const second = await call('/redlock?name=w-redlock&hold=0')
    assert.equal(second.ok, true, JSON.stringify(second))
    assert.ok(Number(second.token) > Number(first.token), `${second.token} > ${first.token}`)
  })

  test('a second request contends: a short deadline fails, a patient one gets the next token', async () => {
    const holder = call('/redlock?name=w-redlock-c&hold=800')
    await sleep(300)
    const hurried = await call('/redlock?name=w-redlock-c&timeout=150')
    assert.equal(hurried.ok, false, JSON.stringify(hurried))
    assert.equal(hurried.code, 'LOCK_NOT_ACQUIRED')
    assert.equal(hurried.reason, 'deadline')
    const patient = await call('/redlock?name=w-redlock-c&hold=0&timeout=5000')
    const held = await holder
    assert.equal(held.ok, true, JSON.stringify(held))
    assert.equal(patient.ok, true, JSON.stringify(patient))
    assert.ok(patient.attempts > 1, 'the second request met the holder and retried')
    assert.ok(Number(patient.token) > Number(held.token), `${patient.token} > ${held.token}`)
  })
})
