// The etcd, ZooKeeper and PostgreSQL APIs without servers: bad input gets the
// typed error with its stable code, the low-level machines and the etcd
// gateway codec, and the etcd drive loop over a scripted fetch.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { describe, test } from 'node:test'

import {
  AdvisoryLock,
  AdvisoryLockMachine,
  ConfigError,
  EtcdElection,
  EtcdLock,
  EtcdMutexMachine,
  EtcdObserverMachine,
  FencelockError,
  gatewayDecode,
  gatewayDecodeWatchLine,
  gatewayEncode,
  InvalidInputError,
  LockNotAcquiredError,
  machineNames,
  SessionNotPinnedError,
  WireError,
  ZooKeeperElection,
  ZooKeeperLock,
  ZooKeeperLockMachine,
} from 'fencelock'

import { repoRoot } from './support/paths.mjs'

const errorCodes = JSON.parse(readFileSync(join(repoRoot, 'conformance', 'errors.json'), 'utf8')) as Record<string, Record<string, string>>

function throwsCode(fn: () => unknown, type: new (...args: any[]) => FencelockError, code: string) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof type, `expected ${type.name}, got ${e}`)
    assert.strictEqual((e as FencelockError).code, code)
    return true
  })
}

describe('low level: every machine and the etcd gateway codec', () => {
  test('every machine of the core is exposed', () => {
    assert.deepStrictEqual(machineNames().sort(), [
      'advisory_lock',
      'etcd_election',
      'etcd_mutex',
      'etcd_observer',
      'redlock',
      'zookeeper_election',
      'zookeeper_lock',
    ])
  })

  test('machines by class: getters lock / leader, bad input typed', () => {
    const m = new EtcdMutexMachine({ ttl_secs: 10 }, { now: 1000, name: 'orders' })
    const [grant] = m.drain()
    assert.deepStrictEqual(grant, { command: { type: 'lease_grant', req: 1, ttl: 10 } })
    assert.strictEqual(m.lock, null)
    assert.strictEqual(m.state, 'acquiring')
    assert.deepStrictEqual(m.views, ['lock'])
    m.handleInput({ type: 'reply', now: 1004, req: 1, result: { type: 'lease_granted', lease: '7587862243934128390', ttl: 10 } })
    const outputs = m.drain()
    assert.ok(outputs.some((o) => 'command' in o && o.command.type === 'txn'))
    const o = new EtcdObserverMachine({ ttl_secs: 10 }, { now: 1, name: 'e' })
    assert.strictEqual(o.leader, null)
    assert.deepStrictEqual(o.views, ['leader'])
    throwsCode(() => new EtcdMutexMachine({ ttl_secs: 0 }, { now: 1, name: 'x' }), ConfigError, 'INVALID_TTL')
    throwsCode(() => new ZooKeeperLockMachine({}, { now: 1, path: 'nope', guid: 'g', session: '1', session_timeout: 4000 }), ConfigError, 'INVALID_NAME')
    throwsCode(() => new ZooKeeperLockMachine({}, { now: 1, path: '/a', guid: 'g', session: 1 as any, session_timeout: 4000 }), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new AdvisoryLockMachine({}, { now: 1, name: '' }), ConfigError, 'EMPTY_RESOURCE')
    const a = new AdvisoryLockMachine({}, { now: 1, name: 'n' })
    const [query] = a.drain()
    assert.ok(query !== undefined && 'command' in query && query.command.statement === 'try_lock')
  })

  test('the gateway codec: encode, decode, typed errors for malformed bodies', () => {
    const grant = { type: 'lease_grant', req: 1, ttl: 10 }
    assert.deepStrictEqual(gatewayEncode(grant), { path: '/v3/lease/grant', body: '{"TTL":"10"}' })
    assert.strictEqual(gatewayEncode({ type: 'cancel_watch', watch: 3 }), null)
    assert.deepStrictEqual(gatewayDecode(grant, '{"header":{"revision":"1"},"ID":"7587862243934128390","TTL":"10"}'), {
      type: 'lease_granted',
      lease: '7587862243934128390',
      ttl: 10,
    })
    assert.deepStrictEqual(gatewayDecode(grant, new TextEncoder().encode('{"error":"x","code":5,"message":"etcdserver: requested lease not found"}')), {
      type: 'error',
      kind: 'lease_not_found',
      message: 'grpc code 5: etcdserver: requested lease not found',
    })
    throwsCode(() => gatewayDecode(grant, 'not json'), WireError, 'ETCD_GATEWAY_JSON')
    throwsCode(() => gatewayDecode({ type: 'range', req: 1, range: { key: 'a' } }, '{}'), WireError, 'ETCD_GATEWAY_FIELD')
    assert.strictEqual(gatewayDecodeWatchLine('{"result":{"header":{"revision":"3"},"created":true}}'), null)
    throwsCode(() => gatewayEncode({ type: 'warp' }), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => gatewayDecode(grant, 42 as any), InvalidInputError, 'INVALID_INPUT')
  })

  test('every code the backends throw is listed in conformance/errors.json', () => {
    const known = new Set(Object.values(errorCodes).flatMap((group) => (typeof group === 'object' ? Object.keys(group) : [])))
    for (const code of ['SESSION_NOT_PINNED', 'ETCD_GATEWAY_JSON', 'ETCD_GATEWAY_FIELD', 'LEASE_LOST', 'LOCK_NOT_ACQUIRED']) {
      assert.ok(known.has(code), `${code} is missing from errors.json`)
    }
    const e = new (SessionNotPinnedError as any)(['n'], { latency: 1 }) as SessionNotPinnedError
    assert.ok(e instanceof LockNotAcquiredError)
    assert.strictEqual(e.code, 'SESSION_NOT_PINNED')
    assert.strictEqual(e.reason, 'session_not_pinned')
  })
})

describe('high level: bad input', () => {
  test('etcd: not a client, bad options, bad names', async () => {
    throwsCode(() => new EtcdLock({} as any), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new EtcdLock({ endpoints: [] }), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new EtcdLock({ endpoints: ['http://127.0.0.1:1'] }, { ttlSecs: 0 }), ConfigError, 'INVALID_TTL')
    throwsCode(() => new EtcdLock({ endpoints: ['http://127.0.0.1:1'] }, { ttlSecs: 1.5 }), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new EtcdLock({ endpoints: ['http://127.0.0.1:1'] }, { wait: 'sometimes' as any }), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new EtcdElection({ endpoints: ['http://127.0.0.1:1'] }, { colour: 1 } as any), InvalidInputError, 'INVALID_INPUT')
    const lock = new EtcdLock({ endpoints: ['http://127.0.0.1:1'] })
    assert.strictEqual(lock.transport, 'gateway')
    await assert.rejects(lock.acquire(''), { code: 'EMPTY_RESOURCE' })
    await assert.rejects(lock.acquire(7 as any), { code: 'INVALID_INPUT' })
    await assert.rejects(lock.acquire('x', { timeout: NaN }), { code: 'INVALID_INPUT' })
  })

  test('ZooKeeper and PostgreSQL: not a client, bad options', () => {
    throwsCode(() => new ZooKeeperLock(null as any), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new ZooKeeperElection({ create() {} }), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new AdvisoryLock(42 as any), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new AdvisoryLock(async () => ({}), { checkInterval: 0 }), ConfigError, 'INVALID_WAIT')
    throwsCode(() => new AdvisoryLock(async () => ({}), { requestTimeout: -5 }), InvalidInputError, 'INVALID_INPUT')
  })
})

describe('adapters: client errors as the machines\' error kinds', () => {
  const require = createRequire(import.meta.url)
  const { errorResult } = require('../../lib/advisory.js') as { errorResult: (e: unknown) => { kind: string; code: string } }
  const { failureKind } = require('../../lib/etcd.js') as { failureKind: (e: unknown) => string }

  test('pg: FATAL, 57P / 08 and broken sockets are connection errors; other SQLSTATEs are server errors', () => {
    const db = (code: string, severity = 'ERROR') => Object.assign(new Error('x'), { code, severity })
    assert.deepStrictEqual(errorResult(db('57P01', 'FATAL')), { type: 'error', kind: 'connection', code: '57P01', message: 'x' })
    assert.strictEqual(errorResult(db('08006')).kind, 'connection')
    assert.strictEqual(errorResult(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })).kind, 'connection')
    assert.strictEqual(errorResult(new Error('Connection terminated unexpectedly')).kind, 'connection')
    assert.deepStrictEqual(errorResult(db('42P01')), { type: 'error', kind: 'server', code: '42P01', message: 'x' })
    assert.strictEqual(errorResult(db('57014')).kind, 'server', 'statement_timeout is the server\'s, not the adapter\'s')
    assert.strictEqual(errorResult(new Error('Query read timeout')).kind, 'timeout')
  })

  test('etcd: lease not found, timeouts, connection failures, the rest', () => {
    assert.strictEqual(failureKind(new Error('etcdserver: requested lease not found')), 'lease_not_found')
    assert.strictEqual(failureKind(new DOMException('x', 'TimeoutError')), 'timeout')
    assert.strictEqual(failureKind(new TypeError('fetch failed')), 'connection')
    assert.strictEqual(failureKind(new Error('14 UNAVAILABLE: No connection established')), 'connection')
    assert.strictEqual(failureKind(new Error('etcdserver: too many requests')), 'server')
  })
})

describe('etcd over a scripted gateway (fetch)', () => {
  const LEASE = '7587862243934128390'
  const b64 = (s: string) => Buffer.from(s).toString('base64')

  /** A fetch that answers like one etcd for an uncontended lock; `fail` makes the first txn fail to connect. */
  function scriptedFetch(name: string, fail: boolean) {
    const key = `${name}/${BigInt(LEASE).toString(16)}`
    const paths: string[] = []
    let failed = !fail
    const fetch = async (url: string | URL | Request, init?: RequestInit) => {
      const path = new URL(String(url)).pathname
      paths.push(path)
      const body = JSON.parse(String(init?.body ?? '{}'))
      const json = (o: unknown) => new Response(JSON.stringify(o))
      switch (path) {
        case '/v3/lease/grant':
          return json({ header: { revision: '4' }, ID: LEASE, TTL: '10' })
        case '/v3/kv/txn':
          if (!failed) {
            failed = true
            throw new TypeError('fetch failed')
          }
          if (body.success?.[0]?.request_put !== undefined) {
            assert.strictEqual(body.success[0].request_put.key, b64(key))
            return json({
              header: { revision: '5' },
              succeeded: true,
              responses: [
                { response_put: { header: { revision: '5' } } },
                { response_range: { header: { revision: '5' }, kvs: [{ key: b64(key), create_revision: '5', mod_revision: '5', version: '1', lease: LEASE }], count: '1' } },
              ],
            })
          }
          return json({ header: { revision: '6' }, succeeded: true, responses: [{ response_delete_range: { header: { revision: '6' }, deleted: '1' } }] })
        case '/v3/lease/revoke':
          return json({ header: { revision: '6' } })
        default:
          return new Response('{"error":"unknown","code":12}', { status: 501 })
      }
    }
    return { fetch: fetch as typeof globalThis.fetch, paths, key }
  }

  test('acquire and release: the core encodes every request and decodes every response', async () => {
    const script = scriptedFetch('orders', false)
    const events: string[] = []
    const lock = new EtcdLock({ endpoints: ['http://etcd.invalid:2379'], fetch: script.fetch }, { onEvent: (e) => events.push(e.type) })
    const lease = await lock.acquire('orders')
    assert.strictEqual(lease.key, script.key)
    assert.strictEqual(lease.leaseId, LEASE)
    assert.strictEqual(lease.fencingToken, 5)
    assert.deepStrictEqual(lease.resources, ['orders'])
    assert.ok(lease.remaining() > 9_000)
    assert.strictEqual(await lease.extend(), true)
    assert.strictEqual(await lease.release(), 'released')
    await assert.rejects(lease.release(), { code: 'INVALID_STATE' })
    assert.deepStrictEqual(script.paths, ['/v3/lease/grant', '/v3/kv/txn', '/v3/kv/txn', '/v3/lease/revoke'])
    assert.deepStrictEqual(events, ['leaseGranted', 'acquired', 'released'])
  })

  test('a failed request is an event and a retry, not an error', async () => {
    const script = scriptedFetch('retried', true)
    const events: string[] = []
    const lock = new EtcdLock(
      { endpoints: ['http://etcd.invalid:2379'], fetch: script.fetch },
      { retry: { baseDelay: 5, maxDelay: 10, jitter: 0 }, onEvent: (e) => events.push(e.type) }
    )
    const lease = await lock.acquire('retried')
    assert.ok(events.includes('requestError'))
    assert.strictEqual(lease.stats.retries, 1)
    await lease.release()
  })
})
