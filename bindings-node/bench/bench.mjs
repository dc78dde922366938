#!/usr/bin/env node
// Lock + release against the same five local redis-server masters, in one run:
// fencelock, node-redlock 5.0.0-beta.2 and 4.2.0, and a hand-written floor
// (ioredis: SET NX PX on every master concurrently, then an EVALSHA
// compare-and-delete on every master concurrently: one round trip each).
//
//   npm run bench                      starts 5 masters (conformance/live/servers.sh)
//   FENCELOCK_REDIS_PORTS=p1,..,p5 npm run bench   uses running masters
//   BENCH_ROUNDS=5 BENCH_CYCLES=2000 BENCH_SECONDS=2 npm run bench
//
// Latency: one worker, sequential lock + release cycles on one resource (no
// contention), p50 / p95 over every round. Throughput: 16 concurrent workers,
// each on its own resource, cycles per second (median of the rounds). Rounds
// interleave the libraries so machine noise spreads over all of them. Every
// library keeps its default retry policy (without contention a retry only
// follows a failed attempt: a slow or lost reply).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const here = dirname(fileURLToPath(import.meta.url))
const serversScript = join(here, '..', '..', 'conformance', 'live', 'servers.sh')

const { Redis } = require('ioredis')
const fencelock = require('fencelock')
const Redlock5 = require('redlock5').default
const Redlock4 = require('redlock4')

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const CYCLES = Number(process.env.BENCH_CYCLES ?? 1500)
const WARMUP = 200
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2)
const WORKERS = 16
const TTL = 10_000

/** @returns {{ports: number[], stop: () => void}} */
function servers() {
  if (process.env.FENCELOCK_REDIS_PORTS) {
    return { ports: process.env.FENCELOCK_REDIS_PORTS.split(',').slice(0, 5).map(Number), stop: () => {} }
  }
  const dir = mkdtempSync(join(tmpdir(), 'fencelock-bench-'))
  execFileSync(serversScript, ['start-redis', '5', join(dir, 'servers')], { stdio: 'ignore' })
  const env = readFileSync(join(dir, 'servers', 'env'), 'utf8')
  const line = env.split('\n').find((l) => l.startsWith('FENCELOCK_REDIS_PORTS=')) ?? ''
  return {
    ports: line.slice('FENCELOCK_REDIS_PORTS='.length).split(',').map(Number),
    stop: () => {
      execFileSync(serversScript, ['stop', join(dir, 'servers')], { stdio: 'ignore' })
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** @param {number[]} ports */
const connect = (ports) => ports.map((port) => new Redis({ port, host: '127.0.0.1' }))

const DELETE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

/**
 * The floor: what any Redlock must at least do, with the same client library.
 * @param {any[]} clients
 */
async function floor(clients) {
  const sha = await clients[0].script('LOAD', DELETE)
  await Promise.all(clients.slice(1).map((c) => c.script('LOAD', DELETE)))
  const quorum = Math.floor(clients.length / 2) + 1
  let n = 0
  return {
    /** @param {string} resource */
    async cycle(resource) {
      const key = `floor:${resource}`
      const value = `v${++n}-${Math.random()}`
      const set = await Promise.all(clients.map((c) => c.set(key, value, 'PX', TTL, 'NX').catch(() => null)))
      if (set.filter((r) => r === 'OK').length < quorum) throw new Error('floor: no quorum')
      await Promise.all(clients.map((c) => c.evalsha(sha, 1, key, value).catch(() => null)))
    },
  }
}

/**
 * The floor again, with fencelock's own scripts: the same EVALSHA commands
 * fencelock sends (acquire with the fencing counter, compare-and-delete
 * release), on the five masters concurrently, waiting for all five. What is
 * left between this and fencelock is the binding and its drive loop.
 * @param {any[]} clients
 */
async function scriptFloor(clients) {
  const scripts = Object.fromEntries(fencelock.redlockScripts().map((/** @type {any} */ s) => [s.name, s]))
  for (const c of clients) {
    await c.script('LOAD', scripts.acquire.source)
    await c.script('LOAD', scripts.release.source)
  }
  const quorum = Math.floor(clients.length / 2) + 1
  /** @type {Map<string, {keys: string[], args: string[], release: string[]}>} */
  const shapes = new Map()
  let n = 0
  return {
    /** @param {string} resource */
    async cycle(resource) {
      let shape = shapes.get(resource)
      if (shape === undefined) {
        // The commands fencelock's machine emits for this resource.
        const m = new fencelock.RedlockMachine({ nodes: clients.length, ttl: TTL }, { now: 1, resources: [`raw:${resource}`], value: 'v' })
        const acquire = /** @type {any} */ (m.drain()[0]).command
        const lockKeys = acquire.keys.filter((/** @type {string} */ k) => k.includes(':lock:'))
        shape = { keys: acquire.keys, args: acquire.args, release: lockKeys }
        shapes.set(resource, shape)
      }
      const value = `v${++n}-${Math.random()}`
      const args = [value, ...shape.args.slice(1)]
      const granted = await Promise.all(
        clients.map((c) => c.evalsha(scripts.acquire.sha1, shape.keys.length, ...shape.keys, ...args).catch(() => null))
      )
      if (granted.filter((r) => r !== null && r !== 0).length < quorum) throw new Error('script floor: no quorum')
      await Promise.all(clients.map((c) => c.evalsha(scripts.release.sha1, shape.release.length, ...shape.release, value).catch(() => null)))
    },
  }
}

/** @param {any[]} clients */
function fencelockLib(clients, fencing = true) {
  const redlock = new fencelock.Redlock(clients, { ttl: TTL, fencing })
  return {
    /** @param {string} resource */
    async cycle(resource) {
      const lease = await redlock.acquire(`bench:${resource}`)
      await lease.release()
    },
  }
}

/** @param {any[]} clients */
function redlock5Lib(clients) {
  const redlock = new Redlock5(clients)
  redlock.on('error', () => {})
  return {
    /** @param {string} resource */
    async cycle(resource) {
      const lock = await redlock.acquire([`r5:${resource}`], TTL)
      await lock.release()
    },
  }
}

/** @param {any[]} clients */
function redlock4Lib(clients) {
  const redlock = new Redlock4(clients)
  redlock.on('clientError', () => {})
  return {
    /** @param {string} resource */
    async cycle(resource) {
      const lock = await redlock.lock(`r4:${resource}`, TTL)
      await lock.unlock()
    },
  }
}

/**
 * @param {number[]} sorted
 * @param {number} p
 */
function percentile(sorted, p) {
  const rank = Math.ceil(p * sorted.length)
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1] ?? NaN
}

/** @param {number[]} values */
function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  return percentile(sorted, 0.5)
}

/**
 * @param {{cycle: (r: string) => Promise<void>}} lib
 * @param {number[]} samples
 */
async function latency(lib, samples) {
  for (let i = 0; i < WARMUP; i++) await lib.cycle('lat')
  for (let i = 0; i < CYCLES; i++) {
    const t0 = performance.now()
    await lib.cycle('lat')
    samples.push(performance.now() - t0)
  }
}

/** @param {{cycle: (r: string) => Promise<void>}} lib */
async function throughput(lib) {
  let count = 0
  const until = performance.now() + SECONDS * 1000
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      while (performance.now() < until) {
        await lib.cycle(`tp-${w}`)
        count++
      }
    })
  )
  return count / SECONDS
}

async function main() {
  const { ports, stop } = servers()
  /** @type {{name: string, make: (clients: any[]) => any, clients: any[], lib?: any, samples: number[], rates: number[]}[]} */
  const entries = [
    { name: 'floor (ioredis SET NX + EVALSHA del)', make: floor, clients: connect(ports), samples: [], rates: [] },
    { name: 'floor with fencelock\'s scripts (ioredis EVALSHA acquire + release)', make: scriptFloor, clients: connect(ports), samples: [], rates: [] },
    { name: 'fencelock', make: fencelockLib, clients: connect(ports), samples: [], rates: [] },
    { name: 'fencelock (fencing off)', make: (c) => fencelockLib(c, false), clients: connect(ports), samples: [], rates: [] },
    { name: 'node-redlock 5.0.0-beta.2', make: redlock5Lib, clients: connect(ports), samples: [], rates: [] },
    { name: 'node-redlock 4.2.0', make: redlock4Lib, clients: connect(ports), samples: [], rates: [] },
  ]
  try {
    for (const e of entries) e.lib = await e.make(e.clients)
    console.error(`bench: ${ports.length} masters on ports ${ports.join(',')}; ${ROUNDS} rounds of ${CYCLES} cycles + ${SECONDS} s x ${WORKERS} workers`)
    for (let round = 1; round <= ROUNDS; round++) {
      for (const e of entries) {
        await latency(e.lib, e.samples)
        e.rates.push(await throughput(e.lib))
      }
      console.error(`bench: round ${round}/${ROUNDS} done`)
    }
  } finally {
    for (const e of entries) for (const c of e.clients) c.disconnect()
    stop()
  }

  const rows = entries.map((e) => {
    const sorted = [...e.samples].sort((a, b) => a - b)
    return { name: e.name, p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), rate: median(e.rates) }
  })
  const base = /** @type {{p50: number, p95: number, rate: number}} */ (rows[0])
  const f = (/** @type {number} */ x, digits = 3) => x.toFixed(digits)
  const lines = [
    `| library | p50 ms | p95 ms | p50 vs floor | p95 vs floor | ops/s, ${WORKERS} workers | throughput vs floor |`,
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${f(r.p50)} | ${f(r.p95)} | ${f(r.p50 / base.p50, 2)}x | ${f(r.p95 / base.p95, 2)}x | ${Math.round(r.rate)} | ${f(r.rate / base.rate, 2)}x |`
    ),
  ]
  console.log(lines.join('\n'))
  const scripted = /** @type {{p50: number, p95: number, rate: number}} */ (rows[1])
  const ours = /** @type {{p50: number, p95: number, rate: number}} */ (rows[2])
  const best = Math.max(.../** @type {number[]} */ (rows.slice(4).map((r) => r.rate)))
  console.log(
    `\nfencelock p50 ${f(ours.p50 / base.p50, 2)}x the floor (target <= 1.10x), ${f(ours.p50 / scripted.p50, 2)}x the floor with its own scripts; ` +
      `throughput ${f(ours.rate / best, 2)}x the best node-redlock (target >= 1.00x)`
  )
}

await main()
