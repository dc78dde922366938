// A Worker for workerd that takes fencelock locks with the web build:
//   GET /etcd?name=N&hold=MS[&try=1][&timeout=MS]     etcd lock over the JSON gateway (fetch, polling)
//   GET /redlock?name=N&hold=MS[&timeout=MS]          Redlock over RESP sockets (connect()) to the masters
//   GET /demo?lock=N&counter=K&acquisitions=N         the demo's fenced counter, as one more contender
// Each answers JSON: {ok: true, token, ...} or {ok: false, code, reason}.
// Bindings: ETCD (gateway URL), MASTERS (host:port,... of the Redlock masters),
// RESOURCE (host:port of the Redis holding the fenced counter).
import { connect } from 'cloudflare:sockets'
import wasmModule from './pkg/web/fencelock_wasm_bg.wasm'
import {
  cloudflareSockets,
  EtcdLock,
  FencelockError,
  initSync,
  Redlock,
  redlockScripts,
  RespTransport,
} from './web.js'

/** @param {unknown} body @param {number} [status] */
const json = (body, status = 200) =>
  new Response(JSON.stringify(body, (_, v) => (typeof v === 'bigint' ? v.toString() : v)), {
    status,
    headers: { 'content-type': 'application/json' },
  })

/** @param {string} list */
const addresses = (list) =>
  list.split(',').map((hp) => {
    const [hostname = '127.0.0.1', port = '0'] = hp.split(':')
    return { hostname, port: Number(port) }
  })

const sleep = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** @param {unknown} e @param {unknown[]} events */
function failure(e, events) {
  if (e instanceof FencelockError) return json({ ok: false, code: e.code, reason: /** @type {any} */ (e).reason ?? null, message: e.message, events: events.slice(0, 5) })
  return json({ ok: false, code: 'UNEXPECTED', message: String(e) }, 500)
}

export default {
  /**
   * @param {Request} request
   * @param {{ETCD: string, MASTERS: string, RESOURCE: string}} env
   */
  async fetch(request, env) {
    const url = new URL(request.url)
    const q = url.searchParams
    initSync({ module: wasmModule })
    const hold = Number(q.get('hold') ?? '0')
    const timeout = q.has('timeout') ? Number(q.get('timeout')) : null
    /** @type {unknown[]} */
    const events = []
    const onEvent = (/** @type {any} */ e) => {
      if (e.type === 'requestError' || e.type === 'nodeError') events.push(e)
    }
    try {
      if (url.pathname === '/etcd') {
        const etcd = new EtcdLock({ endpoints: [env.ETCD] }, { ttlSecs: 5, wait: 'poll', pollInterval: 50, onEvent })
        const lease = await etcd.acquire(q.get('name') ?? 'workerd', { tryLock: q.get('try') === '1', timeout })
        const token = lease.fencingToken
        const key = lease.key
        await sleep(hold)
        const outcome = await lease.release()
        return json({ ok: true, token, key, outcome, queued: lease.stats.queued })
      }
      if (url.pathname === '/redlock') {
        const transport = new RespTransport(cloudflareSockets(connect, addresses(env.MASTERS)))
        try {
          const redlock = new Redlock(transport, { ttl: 5_000, retry: { backoff: 'fixed', baseDelay: 20, jitter: 10, maxAttempts: null }, onEvent })
          const lease = await redlock.acquire(q.get('name') ?? 'workerd', { timeout })
          const token = lease.fencingToken
          await sleep(hold)
          const outcome = await lease.release()
          return json({ ok: true, token, outcome, attempts: lease.stats.attempts })
        } finally {
          transport.close()
        }
      }
      if (url.pathname === '/demo') return demo(q, env)
      return json({ ok: false, code: 'NOT_FOUND' }, 404)
    } catch (e) {
      return failure(e, events)
    }
  },
}

/**
 * The demo's contender: acquire the shared lock, read the fenced counter, add
 * one, write it back through the fenced-set script with the token; repeat.
 * @param {URLSearchParams} q
 * @param {{MASTERS: string, RESOURCE: string}} env
 */
async function demo(q, env) {
  const lock = q.get('lock') ?? 'demo'
  const counter = q.get('counter') ?? `${lock}-counter`
  const want = Number(q.get('acquisitions') ?? '20')
  const masters = new RespTransport(cloudflareSockets(connect, addresses(env.MASTERS)))
  const resource = new RespTransport(cloudflareSockets(connect, addresses(env.RESOURCE)))
  const fencedSet = redlockScripts().find((s) => s.name === 'fenced_set')
  const redlock = new Redlock(masters, { ttl: 2_000, retry: { backoff: 'exponential', baseDelay: 10, maxDelay: 200, jitter: 10, maxAttempts: null } })
  /** @type {[number, number | bigint, number][]} */
  const writes = []
  let stale = 0
  const started = Date.now()
  try {
    while (writes.length < want && Date.now() - started < 110_000) {
      const t0 = Date.now()
      let lease
      try {
        lease = await redlock.acquire(lock, { timeout: 10_000 })
      } catch (e) {
        if (e instanceof FencelockError && e.code === 'LOCK_NOT_ACQUIRED') continue
        throw e
      }
      const latency = Date.now() - t0
      try {
        const token = /** @type {number | bigint} */ (lease.fencingToken)
        const read = await resource.command(0, ['GET', `${counter}:data`])
        const value = (read.type === 'text' ? Number(read.value) : 0) + 1
        const write = await resource.command(0, ['EVAL', fencedSet?.source ?? '', '2', `${counter}:fence`, `${counter}:data`, String(token), String(value)])
        if (write.type === 'int' && BigInt(write.value) === BigInt(token)) writes.push([value, token, latency])
        else stale++
      } finally {
        await lease.release()
      }
      await sleep(3)
    }
    return json({ ok: true, writes, stale })
  } finally {
    masters.close()
    resource.close()
  }
}
