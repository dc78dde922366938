#!/usr/bin/env node
// @ts-check
// Node workers for the demo (scripts/demo.sh): async workers, half on ioredis and
// half on node-redis clients, contend for one Redlock lock (five masters) that
// protects a fenced counter in a sixth Redis, alongside the Rust and Python
// workers of the same run. Each holder reads the counter, adds one and writes it
// back through RedisFence with its fencing token.
//
//   node examples/demo-workers.mjs --lock NAME [--log PATH] [--acquisitions N] [--workers N]
//
// Masters and resource: the first five ports of FENCELOCK_REDIS_PORTS and the
// sixth (as servers.sh start-redis 6 DIR writes them). `--log` gets one
// `counter token` line per admitted write, for the check across processes.
import { writeFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

import { Redis } from 'ioredis'
import { createClient } from 'redis'

import { LockNotAcquiredError, RedisFence, Redlock } from 'fencelock'

const RUN_LIMIT_MS = 120_000

/** @param {string[]} argv */
function options(argv) {
  const o = { lock: '', log: '', acquisitions: 100, workers: 8 }
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]]
    if (value === undefined) throw new Error(`${flag} needs a value`)
    if (flag === '--lock') o.lock = value
    else if (flag === '--log') o.log = value
    else if (flag === '--acquisitions') o.acquisitions = Number(value)
    else if (flag === '--workers') o.workers = Number(value)
    else throw new Error(`unknown argument ${flag}`)
  }
  if (!o.lock) o.lock = `demo-js-${Math.floor(Math.random() * 1e6)}`
  return o
}

const o = options(process.argv.slice(2))
const ports = (process.env.FENCELOCK_REDIS_PORTS ?? '').split(',').filter(Boolean).map(Number)
if (ports.length < 6) {
  console.error('demo-workers: FENCELOCK_REDIS_PORTS must list 5 masters and a resource (servers.sh start-redis 6 DIR)')
  process.exit(2)
}
const masters = ports.slice(0, 5)
const ioClients = masters.map((port) => new Redis({ port, host: '127.0.0.1' }))
const nodeClients = await Promise.all(
  masters.map((port) => {
    const client = createClient({ socket: { port, host: '127.0.0.1' } })
    client.on('error', () => {})
    return client.connect()
  })
)
const resourceClient = new Redis({ port: ports[5], host: '127.0.0.1' })
const retry = { backoff: /** @type {const} */ ('exponential'), baseDelay: 10, maxDelay: 200, jitter: 10, maxAttempts: null }
const redlocks = [new Redlock(ioClients, { ttl: 2_000, retry }), new Redlock(nodeClients, { ttl: 2_000, retry })]
const fence = new RedisFence(resourceClient, `${o.lock}-counter`)

console.log(`node demo: ${o.workers} async workers (ioredis and node-redis), ${o.acquisitions} acquisitions, lock ${JSON.stringify(o.lock)}`)
const started = performance.now()
let inside = false
let overlaps = 0
let stale = 0
/** @type {[number, number][]} */
const writes = []
/** @type {number[]} */
const latencies = []
/** @type {string[]} */
const errors = []

/** @param {number} id */
async function worker(id) {
  const redlock = /** @type {Redlock} */ (redlocks[id % 2])
  const who = `${id % 2 === 0 ? 'ioredis' : 'node-redis'} ${id}`
  while (writes.length < o.acquisitions && performance.now() - started < RUN_LIMIT_MS) {
    const t0 = performance.now()
    let lease
    try {
      lease = await redlock.acquire(o.lock, { timeout: 10_000 })
    } catch (e) {
      if (e instanceof LockNotAcquiredError) continue
      throw e
    }
    const latency = performance.now() - t0
    try {
      if (inside) overlaps++
      inside = true
      if (writes.length < o.acquisitions) {
        const token = Number(lease.fencingToken)
        const counter = Number((await resourceClient.get(`${o.lock}-counter:data`)) ?? '0') + 1
        const { accepted } = await fence.write(token, String(counter))
        if (accepted) {
          writes.push([counter, token])
          latencies.push(latency)
          console.log(`js #${String(writes.length).padEnd(4)} ${who.padEnd(12)} token ${String(token).padEnd(6)} acquired in ${latency.toFixed(2)} ms`)
        } else {
          stale++
          console.log(`js ${who}: STALE write with token ${token} rejected`)
        }
      }
    } finally {
      inside = false
      await lease.release()
    }
    await sleep(3) // other work between two jobs
  }
}

await Promise.all(Array.from({ length: o.workers }, (_, i) => worker(i).catch((e) => errors.push(`worker ${i}: ${e}`))))
if (o.log) writeFileSync(o.log, writes.map(([c, t]) => `${c} ${t}\n`).join(''))
for (const c of ioClients) c.disconnect()
await Promise.all(nodeClients.map((c) => c.quit()))
resourceClient.disconnect()

const sorted = [...latencies].sort((a, b) => a - b)
const pct = (/** @type {number} */ q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0 : 0)
const tokens = [...writes].sort((a, b) => a[0] - b[0]).map(([, t]) => t)
const increasing = tokens.every((t, i) => i === 0 || (tokens[i - 1] ?? 0) < t)
console.log(`--- node summary (${((performance.now() - started) / 1000).toFixed(1)} s) ---`)
console.log(`acquisitions: ${writes.length}`)
console.log(`acquire latency: p50 ${pct(0.5).toFixed(2)} ms, p95 ${pct(0.95).toFixed(2)} ms`)
console.log(`overlapping holders (in process): ${overlaps}`)
console.log(`tokens strictly increasing: ${increasing}`)
console.log(`stale writes rejected: ${stale} (expected 0)`)
for (const e of errors) console.log(`error: ${e}`)
const ok = errors.length === 0 && writes.length === o.acquisitions && overlaps === 0 && stale === 0 && increasing
console.log(ok ? 'node workers: invariant held' : 'node workers: INVARIANT BROKEN')
process.exit(ok ? 0 : 1)
