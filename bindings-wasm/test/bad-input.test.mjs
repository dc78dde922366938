// Bad input never traps the module nor escapes as an uncaught exception: bad
// values are typed errors (InvalidInputError, ConfigError, UsageError); a
// `send` that throws or resolves garbage, a socket that closes mid-reply or
// speaks garbage, and a gateway answering HTTP 5xx or malformed JSON become
// node-failure / request-error events and, in the end, a typed
// LockNotAcquiredError.
import assert from 'node:assert/strict'
import { createServer as createHttpServer } from 'node:http'
import net from 'node:net'
import { after, describe, test } from 'node:test'

import * as fl from 'fencelock-wasm/node'

const uncaught = /** @type {unknown[]} */ ([])
process.on('uncaughtException', (e) => uncaught.push(e))
process.on('unhandledRejection', (e) => uncaught.push(e))
after(() => assert.deepEqual(uncaught, [], 'no uncaught exception or unhandled rejection'))

/**
 * @param {() => unknown} fn
 * @param {Function} type
 * @param {string} code
 */
function throwsCode(fn, type, code) {
  assert.throws(fn, (/** @type {any} */ e) => e instanceof type && e instanceof fl.FencelockError && e.code === code, `expected ${type.name} ${code}`)
}

const CONFIG = { nodes: 3, ttl: 10_000 }
const INIT = { now: 1000, resources: ['r'], value: 'v-1' }

describe('low level: values that do not convert are typed errors', () => {
  test('wrong types, NaN, Infinity, negative and fractional numbers', () => {
    throwsCode(() => new fl.RedlockMachine(/** @type {any} */ ({ nodes: 'three', ttl: 10 }), INIT), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new fl.RedlockMachine({ nodes: 3, ttl: NaN }, INIT), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new fl.RedlockMachine({ nodes: 3, ttl: Infinity }, INIT), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new fl.RedlockMachine({ nodes: 3, ttl: -1 }, INIT), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new fl.RedlockMachine({ nodes: 3, ttl: 1.5 }, INIT), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new fl.RedlockMachine({ nodes: 3, ttl: 2 ** 80 }, INIT), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new fl.RedlockMachine({ nodes: 3, ttl: 2n ** 80n }, INIT), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new fl.RedlockMachine(/** @type {any} */ ({ ...CONFIG, bogus: 1 }), INIT), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new fl.RedlockMachine(/** @type {any} */ (null), INIT), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new fl.RedlockMachine(CONFIG, /** @type {any} */ ({ ...INIT, resources: 'r' })), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => fl.createMachine('zookeeper', {}, {}), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new fl.RedlockMachine(CONFIG, { ...INIT, value: /** @type {any} */ (() => 1) }), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new fl.RedlockMachine(CONFIG, { ...INIT, value: 'x'.repeat(17 * 1024 * 1024) }), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new fl.EtcdMutexMachine({ ttl_secs: 10 }, { now: 1, name: 'n', try_lock: /** @type {any} */ ('yes') }), fl.InvalidInputError, 'INVALID_INPUT')
  })

  test('the core refuses bad configurations with its codes', () => {
    throwsCode(() => new fl.RedlockMachine({ nodes: 0, ttl: 10_000 }, INIT), fl.ConfigError, 'NO_NODES')
    throwsCode(() => new fl.RedlockMachine({ nodes: 3, ttl: 0 }, INIT), fl.ConfigError, 'INVALID_TTL')
    throwsCode(() => new fl.RedlockMachine({ nodes: 3, ttl: 4 }, INIT), fl.ConfigError, 'TTL_TOO_SHORT')
    throwsCode(() => new fl.RedlockMachine(CONFIG, { ...INIT, resources: [''] }), fl.ConfigError, 'EMPTY_RESOURCE')
    throwsCode(() => new fl.RedlockMachine(CONFIG, { ...INIT, resources: ['x'.repeat(513)] }), fl.ConfigError, 'RESOURCE_TOO_LONG')
    throwsCode(() => fl.checkConfig('etcd_mutex', { ttl_secs: 0 }), fl.ConfigError, 'INVALID_TTL')
  })

  test('bad inputs leave the machine unchanged and working', () => {
    const m = new fl.RedlockMachine(CONFIG, INIT)
    const commands = m.drain()
    assert.equal(commands.length, 3)
    throwsCode(() => m.handleInput(/** @type {any} */ (null)), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => m.handleInput({ type: 'reply', now: 1001, req: 99, result: { type: 'int', value: 1 } }), fl.UsageError, 'UNKNOWN_REQUEST')
    throwsCode(() => m.handleInput({ type: 'reply', now: 1001, req: 1, node: 7, result: { type: 'int', value: 1 } }), fl.UsageError, 'UNKNOWN_NODE')
    throwsCode(() => m.handleInput({ type: 'timeout', now: 999 }), fl.UsageError, 'NON_MONOTONIC_TIME')
    throwsCode(() => m.handleInput({ type: 'timeout', now: NaN }), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => m.handleInput({ type: 'extend', now: 1001 }), fl.UsageError, 'INVALID_STATE')
    throwsCode(() => m.handleInput({ type: 'reply', now: 1001, req: 1, result: { type: 'array', items: deep(5000) } }), fl.InvalidInputError, 'INVALID_INPUT')
    assert.deepEqual(m.drain(), [])
    for (const req of [1, 2]) m.handleInput({ type: 'reply', now: 1002, req, result: { type: 'int', value: 5 } })
    assert.equal(m.state, 'held')
    assert.equal(m.lease?.fencing_token, 5)
  })

  test('codecs: malformed bytes are wire errors, never traps', () => {
    const grant = { type: 'lease_grant', req: 1, ttl: 10 }
    for (const body of ['', '{', '[]', 'null', '{"header":{"revision":"x"}}', '\u0000\u0001', '{"ID":"99999999999999999999999"}', '['.repeat(10_000)]) {
      assert.throws(() => fl.gatewayDecode(grant, body), (/** @type {any} */ e) => e instanceof fl.FencelockError && /^ETCD_GATEWAY_/.test(e.code))
    }
    assert.equal(fl.gatewayDecodeWatchLine('{"result":{"created":true}}'), null)
    throwsCode(() => fl.gatewayEncode({ type: 'txn' }), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => fl.lockValueFromRandom(new Uint8Array(3)), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new fl.FenceGuard(-1), fl.InvalidInputError, 'INVALID_INPUT')
    const guard = new fl.FenceGuard()
    assert.deepEqual(guard.admit(2n ** 60n), { accepted: true })
    assert.deepEqual(guard.admit(3), { accepted: false, highest: 2n ** 60n })
    throwsCode(() => fl.fencedUpdateSql('t; drop', ['a'], 'f', 'k'), fl.InvalidInputError, 'INVALID_IDENTIFIER')
  })
})

/** @param {number} n */
function deep(n) {
  /** @type {any} */
  let v = { type: 'nil' }
  for (let i = 0; i < n; i++) v = { type: 'array', items: [v] }
  return [v]
}

describe('high level: a misbehaving send is a node failure, never an exception', () => {
  /**
   * @param {(node: number, command: any) => unknown} send
   */
  async function acquireWith(send) {
    /** @type {any[]} */
    const events = []
    const redlock = new fl.Redlock({ nodes: 3, send }, { ttl: 2_000, retry: { maxAttempts: 2, baseDelay: 5, jitter: 0 }, onEvent: (e) => events.push(e) })
    const error = await redlock.acquire('r').then(
      () => null,
      (e) => e
    )
    return { error, events }
  }

  for (const [name, send, kind] of /** @type {[string, (node: number, command: any) => unknown, string][]} */ ([
    ['throws', () => { throw new Error('boom') }, 'connection'],
    ['rejects', () => Promise.reject(new Error('no route')), 'connection'],
    ['rejects with a non-error', () => Promise.reject(42), 'connection'],
    ['resolves an object that is no reply', () => ({ hello: 'world' }), 'protocol'],
    ['resolves NaN', () => NaN, 'protocol'],
    ['resolves a fraction', () => 1.5, 'protocol'],
    ['resolves a function', () => () => 1, 'protocol'],
    ['resolves a symbol', () => Symbol('x'), 'protocol'],
    ['resolves an int reply with a string value', () => ({ type: 'int', value: '1' }), 'protocol'],
    ['resolves an error of an unknown kind', () => ({ type: 'error', kind: 'cosmic', message: 'x' }), 'protocol'],
    ['resolves a text reply', () => 'OK', 'protocol'],
  ])) {
    test(`send ${name}`, async () => {
      const { error, events } = await acquireWith(send)
      assert.ok(error instanceof fl.LockNotAcquiredError, `got ${error}`)
      assert.equal(error.reason, 'attempts_exhausted')
      const nodeErrors = events.filter((e) => e.type === 'nodeError')
      assert.ok(nodeErrors.length >= 3, 'node_error events')
      assert.ok(nodeErrors.every((e) => e.kind === kind), `kinds ${nodeErrors.map((e) => e.kind)}`)
    })
  }

  test('a send that never answers ends in node timeouts', async () => {
    const { error, events } = await acquireWith(() => new Promise(() => {}))
    assert.ok(error instanceof fl.LockNotAcquiredError)
    assert.ok(events.some((e) => e.type === 'nodeError' && e.kind === 'timeout'))
  })

  test('bad options and a bad transport are InvalidInputError', () => {
    throwsCode(() => new fl.Redlock(/** @type {any} */ ({ nodes: 3 })), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new fl.Redlock({ nodes: 3, send: () => 1 }, { ttl: -5 }), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new fl.Redlock({ nodes: 3, send: () => 1 }, /** @type {any} */ ({ tll: 5 })), fl.InvalidInputError, 'INVALID_INPUT')
    throwsCode(() => new fl.Redlock({ nodes: 0, send: () => 1 }), fl.ConfigError, 'NO_NODES')
  })
})

describe('high level: a RESP socket that breaks is a connection failure', () => {
  /**
   * A fake Redis that answers SCRIPT LOAD, then misbehaves on EVALSHA.
   * @param {(socket: import('node:net').Socket) => void} onEval
   */
  async function fakeRedis(onEval) {
    const server = net.createServer((socket) => {
      let buffer = ''
      socket.on('data', (chunk) => {
        buffer += chunk.toString('latin1')
        for (;;) {
          const i = buffer.indexOf('SCRIPT')
          const j = buffer.indexOf('EVALSHA')
          if (i >= 0 && (j < 0 || i < j)) {
            buffer = buffer.slice(i + 6)
            socket.write('$40\r\n0000000000000000000000000000000000000000\r\n')
          } else if (j >= 0) {
            buffer = buffer.slice(j + 7)
            onEval(socket)
          } else break
        }
      })
      socket.on('error', () => {})
    })
    await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)))
    const address = server.address()
    return { server, port: typeof address === 'object' && address !== null ? address.port : 0 }
  }

  for (const [name, onEval, kind] of /** @type {[string, (s: import('node:net').Socket) => void, string][]} */ ([
    ['closes mid-reply', (s) => s.end(':12'), 'connection'],
    ['sends bytes that are not RESP', (s) => s.write('!garbage\r\n'), 'protocol'],
    ['announces a bulk string beyond the limit', (s) => s.write('$999999999999\r\n'), 'protocol'],
  ])) {
    test(`a master that ${name}`, async () => {
      const fakes = await Promise.all([0, 1, 2].map(() => fakeRedis(onEval)))
      const transport = new fl.RespTransport(fl.nodeSockets(net, fakes.map((f) => ({ hostname: '127.0.0.1', port: f.port }))))
      /** @type {any[]} */
      const events = []
      const redlock = new fl.Redlock(transport, { ttl: 2_000, retry: { maxAttempts: 2, baseDelay: 5, jitter: 0 }, onEvent: (e) => events.push(e) })
      const error = await redlock.acquire('r').then(() => null, (e) => e)
      transport.close()
      for (const f of fakes) f.server.close()
      assert.ok(error instanceof fl.LockNotAcquiredError, `got ${error}`)
      const nodeErrors = events.filter((e) => e.type === 'nodeError')
      assert.ok(nodeErrors.length > 0 && nodeErrors.some((e) => e.kind === kind), `kinds ${nodeErrors.map((e) => `${e.kind}: ${e.message}`)}`)
    })
  }

  test('a master that refuses connections', async () => {
    const transport = new fl.RespTransport(fl.nodeSockets(net, [{ hostname: '127.0.0.1', port: 1 }]))
    const redlock = new fl.Redlock(transport, { ttl: 2_000, retry: { maxAttempts: 1 } })
    const error = await redlock.acquire('r').then(() => null, (e) => e)
    assert.ok(error instanceof fl.LockNotAcquiredError)
  })
})

describe('high level: a gateway answering 5xx or malformed JSON is a request error', () => {
  for (const [name, status, body] of /** @type {[string, number, string][]} */ ([
    ['HTTP 500 with an etcd error body', 500, '{"error":"etcdserver: leader changed","code":14,"message":"etcdserver: leader changed"}'],
    ['HTTP 502 with an HTML page', 502, '<html>bad gateway</html>'],
    ['HTTP 200 with malformed JSON', 200, '{"header":'],
    ['HTTP 200 with the wrong shape', 200, '{"header":{"revision":"1"},"ID":"not-a-number"}'],
    ['HTTP 503 with an empty body', 503, ''],
  ])) {
    test(name, async () => {
      const server = createHttpServer((req, res) => {
        req.resume()
        res.writeHead(status, { 'content-type': 'application/json' }).end(body)
      })
      await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)))
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      /** @type {any[]} */
      const events = []
      const etcd = new fl.EtcdLock({ endpoints: [`http://127.0.0.1:${port}`] }, { ttlSecs: 5, retry: { maxAttempts: 2, baseDelay: 5, jitter: 0 }, onEvent: (e) => events.push(e) })
      const error = await etcd.acquire('n').then(() => null, (e) => e)
      server.close()
      assert.ok(error instanceof fl.LockNotAcquiredError, `got ${error}`)
      assert.equal(error.reason, 'attempts_exhausted')
      assert.ok(events.some((e) => e.type === 'requestError'), 'request_error events')
    })
  }

  test('an unreachable gateway is a connection error', async () => {
    /** @type {any[]} */
    const events = []
    const etcd = new fl.EtcdLock({ endpoints: ['http://127.0.0.1:1'] }, { ttlSecs: 5, retry: { maxAttempts: 1 }, onEvent: (e) => events.push(e) })
    const error = await etcd.acquire('n').then(() => null, (e) => e)
    assert.ok(error instanceof fl.LockNotAcquiredError)
    assert.ok(events.some((e) => e.type === 'requestError' && e.kind === 'connection'))
  })
})
