// The API without servers: bad input gets the typed error with its stable code
// (and never crashes the process), the low-level machine classes, the fencing
// helpers, and the two entry points (ESM and CommonJS) sharing one set of classes.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { describe, test } from 'node:test'

import { Redis } from 'ioredis'

import * as fencelock from 'fencelock'
import {
  ConfigError,
  createMachine,
  FenceGuard,
  FencelockError,
  fencedUpdateSql,
  InvalidInputError,
  lockValueFromRandom,
  machineNames,
  RedlockMachine,
  redlockScripts,
  Redlock,
  SqlFence,
  UsageError,
  type RedlockConfig,
} from 'fencelock'

import { repoRoot } from './support/paths.mjs'

const errorCodes = JSON.parse(readFileSync(join(repoRoot, 'conformance', 'errors.json'), 'utf8')) as Record<
  string,
  Record<string, string>
>

/** A client object that is never connected (construction needs no server). */
const offline = () => new Redis({ lazyConnect: true, port: 1, enableOfflineQueue: false, retryStrategy: () => null })

function throwsCode(fn: () => unknown, type: new (...args: any[]) => FencelockError, code: string) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof type, `expected ${type.name}, got ${e}`)
    assert.strictEqual((e as FencelockError).code, code)
    return true
  })
}

async function rejectsCode(p: Promise<unknown>, type: new (...args: any[]) => FencelockError, code: string) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof type, `expected ${type.name}, got ${e}`)
    assert.strictEqual((e as FencelockError).code, code)
    return true
  })
}

const config: RedlockConfig = { nodes: 3, ttl: 10_000, rng_seed: 7 }
const init = { now: 1_000, resources: ['orders:42'], value: 'v-1', timeout: null }

describe('Redlock: bad input is a typed error', () => {
  const clients = [offline(), offline(), offline()]

  test('clients that are not Redis clients', () => {
    throwsCode(() => new Redlock('localhost:6379' as any), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new Redlock([{}] as any), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new Redlock([clients[0], { evalsha: () => 1 }] as any), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new Redlock(null as any), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new Redlock([]), ConfigError, 'NO_NODES')
  })

  test('TTLs: wrong type, NaN, Infinity, negative, fractional, zero, too short', () => {
    for (const ttl of ['100', NaN, Infinity, -Infinity, -1, 1.5, 2 ** 60, null, {}]) {
      throwsCode(() => new Redlock(clients, { ttl: ttl as any }), InvalidInputError, 'INVALID_INPUT')
    }
    throwsCode(() => new Redlock(clients, { ttl: 0 }), ConfigError, 'INVALID_TTL')
    throwsCode(() => new Redlock(clients, { ttl: 2 ** 31 }), ConfigError, 'INVALID_TTL')
    throwsCode(() => new Redlock(clients, { ttl: 4 }), ConfigError, 'TTL_TOO_SHORT')
  })

  test('other options', () => {
    throwsCode(() => new Redlock(clients, { retryCount: 3 } as any), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new Redlock(clients, { driftFactor: NaN }), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new Redlock(clients, { driftFactor: 0.9 }), ConfigError, 'INVALID_DRIFT')
    throwsCode(() => new Redlock(clients, { retry: { maxAttempts: 0 } }), ConfigError, 'INVALID_RETRY')
    throwsCode(() => new Redlock(clients, { retry: { baseDelay: 1.5 } }), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new Redlock(clients, { retry: { backoff: 'linear' as any } }), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new Redlock(clients, { nodeTimeout: 5_000 }), ConfigError, 'INVALID_NODE_TIMEOUT')
    throwsCode(() => new Redlock(clients, { namespace: 'a{b}' }), ConfigError, 'INVALID_NAMESPACE')
    throwsCode(() => new Redlock(clients, { autoExtend: 'yes' as any }), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new Redlock(clients, { seed: 'x' }), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new Redlock(clients, { onEvent: 5 as any }), InvalidInputError, 'INVALID_INPUT')
    assert.strictEqual(new Redlock(clients, { seed: '18446744073709551615', retry: { maxAttempts: Infinity } }).nodes, 3)
  })

  test('resource names: wrong type, empty, over-long, duplicate, none', async () => {
    const redlock = new Redlock(clients)
    await rejectsCode(redlock.acquire(42 as any), InvalidInputError, 'INVALID_INPUT')
    await rejectsCode(redlock.acquire(['a', 1] as any), InvalidInputError, 'INVALID_INPUT')
    await rejectsCode(redlock.acquire(''), ConfigError, 'EMPTY_RESOURCE')
    await rejectsCode(redlock.acquire('x'.repeat(513)), ConfigError, 'RESOURCE_TOO_LONG')
    await rejectsCode(redlock.acquire(['a', 'a']), ConfigError, 'DUPLICATE_RESOURCE')
    await rejectsCode(redlock.acquire([]), ConfigError, 'NO_RESOURCES')
    await rejectsCode(redlock.acquire('a', { timeout: NaN }), InvalidInputError, 'INVALID_INPUT')
    await rejectsCode(redlock.acquire('a', { timeout: 0 }), ConfigError, 'INVALID_TIMEOUT')
    await rejectsCode(redlock.acquire('a', { ttl: -5 }), InvalidInputError, 'INVALID_INPUT')
    await rejectsCode(redlock.acquire('a', { signal: {} as any }), InvalidInputError, 'INVALID_INPUT')
    await rejectsCode(redlock.using('a', undefined as any), InvalidInputError, 'INVALID_INPUT')
  })
})

describe('low level: the machines of the vectors', () => {
  test('machine names, scripts and lock values come from the core', () => {
    assert.ok(machineNames().includes('redlock'))
    assert.deepStrictEqual(
      redlockScripts().map((s) => s.name),
      ['acquire', 'extend', 'release', 'fence']
    )
    assert.strictEqual(lockValueFromRandom(new Uint8Array(16).fill(7)), '07070707-0707-4707-8707-070707070707')
    throwsCode(() => lockValueFromRandom(new Uint8Array(15)), InvalidInputError, 'INVALID_INPUT')
  })

  test('a machine: drain, step, pollTimeout, state, lease', () => {
    const m = new RedlockMachine(config, init)
    const first = m.drain()
    assert.strictEqual(first.length, 3)
    assert.deepStrictEqual(first[0], {
      command: {
        type: 'eval',
        req: 1,
        node: 0,
        script: 'acquire',
        keys: ['fencelock:lock:{orders:42}', 'fencelock:fence:{orders:42}'],
        args: ['v-1', '10000', '1'],
      },
    })
    assert.strictEqual(m.state, 'acquiring')
    assert.strictEqual(m.pollTimeout(), 1_200)
    assert.deepStrictEqual(m.step({ type: 'reply', now: 1_004, req: 1, result: { type: 'int', value: 5 } }), [])
    const out = m.step({ type: 'reply', now: 1_005, req: 2, node: 1, result: { type: 'int', value: 5n } })
    assert.strictEqual(out.length, 1)
    assert.strictEqual(m.state, 'held')
    assert.deepStrictEqual(m.lease, {
      resources: ['orders:42'],
      value: 'v-1',
      acquired_at: 1_005,
      valid_until: 1_000 + 10_000 - 102,
      fencing_token: 5,
    })
    assert.strictEqual(m.pollOutput(), null)
  })

  test('bad inputs are INVALID_INPUT, misuse is the core usage code; the machine is unchanged', () => {
    const m = createMachine('redlock', config, init)
    m.drain()
    const bad: unknown[] = [
      'reply',
      null,
      [],
      { type: 'timeout' },
      { type: 'timeout', now: NaN },
      { type: 'timeout', now: Infinity },
      { type: 'timeout', now: -1 },
      { type: 'timeout', now: 1.5 },
      { type: 'timeout', now: '2000' },
      { type: 'timeout', now: 2 ** 60 },
      { type: 'timeout', now: 2n ** 64n },
      { type: 'warp', now: 2_000 },
      { type: 'reply', now: 2_000, req: 1, result: { type: 'int', value: 1.5 } },
      { type: 'reply', now: 2_000, req: 1, result: { type: 'int', value: 2 ** 70 } },
      { type: 'reply', now: 2_000, req: 1, result: { type: 'text', value: Buffer.from('x') } },
      { type: 'reply', now: 2_000, req: 1, result: { type: 'int', value: () => 1 } },
      { type: 'reply', now: 2_000, req: 1, result: { type: 'int', value: Symbol('x') } },
    ]
    for (const input of bad) {
      throwsCode(() => m.handleInput(input as any), InvalidInputError, 'INVALID_INPUT')
    }
    const cycle: Record<string, unknown> = { type: 'timeout' }
    cycle.now = cycle
    throwsCode(() => m.step(cycle as any), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => m.handleInput({ type: 'timeout', now: 10 }), UsageError, 'NON_MONOTONIC_TIME')
    throwsCode(() => m.handleInput({ type: 'reply', now: 1_001, req: 99, result: { type: 'nil' } }), UsageError, 'UNKNOWN_REQUEST')
    throwsCode(() => m.handleInput({ type: 'extend', now: 1_001 }), UsageError, 'INVALID_STATE')
    assert.strictEqual(m.state, 'acquiring')
    assert.deepStrictEqual(m.drain(), [])
  })

  test('bad configs: INVALID_INPUT before the core, the core code after', () => {
    throwsCode(() => createMachine('etcd-nope', config, init), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => createMachine(5 as any, config, init), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new RedlockMachine({ ...config, ttl: -1 }, init), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new RedlockMachine({ ...config, colour: 'red' } as any, init), InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new RedlockMachine({ ...config, nodes: 0 }, init), ConfigError, 'NO_NODES')
    throwsCode(() => new RedlockMachine(config, { ...init, value: '' }), ConfigError, 'INVALID_VALUE')
    throwsCode(() => new RedlockMachine(config, { ...init, now: 2 ** 53 }), ConfigError, 'TIME_OUT_OF_RANGE')
  })

  test('random junk never crashes the process', () => {
    const junk = [undefined, null, 0, -0, 1e308, NaN, '', 'x', true, [], [[]], {}, { type: 1 }, 2n ** 65n, Symbol('s'), () => 0]
    let seed = 1
    const pick = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return junk[seed % junk.length]
    }
    for (let i = 0; i < 500; i++) {
      const input = { type: pick(), now: pick(), req: pick(), node: pick(), result: { type: pick(), value: pick(), items: [pick()] } }
      try {
        createMachine('redlock', { nodes: pick(), ttl: pick() } as any, init)
      } catch (e) {
        assert.ok(e instanceof FencelockError)
      }
      const m = createMachine('redlock', config, init)
      try {
        m.step(input as any)
      } catch (e) {
        assert.ok(e instanceof FencelockError)
        assert.notStrictEqual((e as FencelockError).code, 'INTERNAL')
      }
    }
  })

  test('every code the binding throws is listed in conformance/errors.json', () => {
    const known = new Set(Object.values(errorCodes).flatMap((group) => (typeof group === 'object' ? Object.keys(group) : [])))
    for (const code of ['INVALID_INPUT', 'INVALID_IDENTIFIER', 'LOCK_NOT_ACQUIRED', 'LEASE_LOST', 'INTERNAL', 'FENCED_WRITE_FAILED']) {
      assert.ok(known.has(code), `${code} is missing from errors.json`)
    }
  })
})

describe('fencing helpers', () => {
  test('FenceGuard admits equal or higher tokens only', () => {
    const guard = new FenceGuard()
    assert.deepStrictEqual(guard.admit(34), { accepted: true })
    assert.deepStrictEqual(guard.admit(34), { accepted: true })
    assert.deepStrictEqual(guard.admit(33), { accepted: false, highest: 34 })
    assert.deepStrictEqual(guard.admit(2n ** 60n), { accepted: true })
    assert.strictEqual(guard.highest, 2n ** 60n)
    assert.deepStrictEqual(new FenceGuard(10).admit(9), { accepted: false, highest: 10 })
    for (const bad of [-1, 1.5, NaN, '3', null]) {
      throwsCode(() => guard.admit(bad as any), InvalidInputError, 'INVALID_INPUT')
    }
  })

  test('the SQL fenced update comes from the core and checks identifiers', async () => {
    assert.strictEqual(
      fencedUpdateSql('accounts', ['balance'], 'fence_token', 'id'),
      'UPDATE accounts SET balance = $1, fence_token = $2 WHERE id = $3 AND fence_token <= $2'
    )
    throwsCode(() => fencedUpdateSql('t; DROP TABLE x', ['v'], 'f', 'id'), InvalidInputError, 'INVALID_IDENTIFIER')
    const fence = new SqlFence({ table: 'accounts', columns: ['balance'], fenceColumn: 'fence_token', keyColumn: 'id' })
    const calls: unknown[][] = []
    const client = {
      async query(text: string, params: unknown[]) {
        calls.push([text, params])
        return { rowCount: params[1] === '7' ? 1 : 0 }
      },
    }
    assert.strictEqual(await fence.update(client, 42, [100], 7), true)
    assert.strictEqual(await fence.update(client, 42, [100], 6), false)
    assert.deepStrictEqual(calls[0], [fence.sql, [100, '7', 42]])
  })
})

describe('drive loop (with scripted clients)', () => {
  type Entry = { value: string; sentAt: number; ranAt: number; answeredAt: number; script: string }
  const scriptName = Object.fromEntries(redlockScripts().map((s) => [s.sha1, s.name]))

  /**
   * An ioredis-shaped client that answers 1 to every script (grant, extended,
   * released) after a random delay, and records what each lease sent to it.
   * `ordered`: it runs commands one at a time in arrival order, like one
   * connection to one server; otherwise each command runs after its own
   * random delay (an unordered client: the drive loop must wait for replies).
   */
  function scriptedClient(log: Entry[], ordered: boolean) {
    let tail = Promise.resolve()
    const answer = (sha: string, _n: number, ...rest: string[]) => {
      const lockValue = rest.find((x) => /^[0-9a-f]{8}-[0-9a-f]{4}-/.test(String(x))) ?? '?'
      const entry: Entry = { value: String(lockValue).replace(/[.][0-9]+$/, ''), sentAt: performance.now(), ranAt: Infinity, answeredAt: Infinity, script: scriptName[sha] ?? sha }
      log.push(entry)
      const run = () =>
        new Promise<number>((resolve) =>
          setTimeout(() => {
            entry.ranAt = entry.answeredAt = performance.now()
            resolve(1)
          }, Math.random() * 3)
        )
      if (!ordered) return run()
      const result = tail.then(run)
      tail = result.then(() => {})
      return result
    }
    return { evalsha: answer, eval: answer, pipeline: () => undefined, isCluster: !ordered }
  }

  for (const ordered of [true, false]) {
    test(`one lease's commands run on a node in emission order (${ordered ? 'one connection: written without waiting' : 'an unordered client: each waits for the previous reply'}); nodes and leases run concurrently`, async () => {
      const logs = Array.from({ length: 5 }, () => [] as Entry[])
      const redlock = new Redlock(
        logs.map((log) => scriptedClient(log, ordered)),
        { ttl: 10_000 }
      )
      const cycles = async (worker: number) => {
        for (let i = 0; i < 40; i++) {
          const lease = await redlock.acquire(`drive-${worker}`)
          await lease.extend()
          assert.strictEqual(await lease.release(), 'released')
        }
      }
      await Promise.all([0, 1, 2, 3].map(cycles))
      let overlapped = 0
      for (const log of logs) {
        const byLease = new Map<string, Entry[]>()
        for (const entry of log) (byLease.get(entry.value) ?? byLease.set(entry.value, []).get(entry.value)!).push(entry)
        for (const entries of byLease.values()) {
          assert.deepStrictEqual(entries.map((e) => e.script), ['acquire', 'extend', 'release'], 'a lease ran its scripts out of order')
          for (let i = 1; i < entries.length; i++) {
            assert.ok(entries[i]!.ranAt >= entries[i - 1]!.ranAt, 'a command ran before the previous one of its lease')
            if (!ordered) assert.ok(entries[i]!.sentAt >= entries[i - 1]!.answeredAt, 'a command overtook the previous one of its lease')
            if (entries[i]!.sentAt < entries[i - 1]!.answeredAt) overlapped += 1
          }
        }
      }
      if (ordered) assert.ok(overlapped > 0, 'on one connection, commands follow each other without waiting for replies')
    })
  }
})

test('the CommonJS and ES module entries share one set of classes', () => {
  const require = createRequire(import.meta.url)
  const cjs = require('fencelock') as typeof fencelock
  assert.strictEqual(cjs.Redlock, fencelock.Redlock)
  assert.strictEqual(cjs.FencelockError, fencelock.FencelockError)
  assert.strictEqual(fencelock.default.Redlock, fencelock.Redlock)
})
