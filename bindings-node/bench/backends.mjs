#!/usr/bin/env node
// Acquire + release latency of the etcd, ZooKeeper and PostgreSQL locks against
// local servers, each beside a bare loop with the same client library:
//
// - etcd: fencelock's lease mutex over etcd3 (gRPC) and over the JSON gateway
//   (fetch), beside a bare etcd3 loop doing what any etcd lock must: lease grant,
//   create-if-absent txn, delete, lease revoke;
// - ZooKeeper: fencelock's lock beside a bare node-zookeeper-client loop of
//   create (ephemeral sequential) + getChildren + remove;
// - PostgreSQL: fencelock's advisory lock (one pinned pool connection per lock)
//   beside a bare pg loop of pg_try_advisory_lock + pg_advisory_unlock on one
//   pooled connection.
//
// One worker, sequential cycles, no contention; rounds interleave the variants
// so machine noise falls on all of them.
//
//   npm run bench:backends                  starts etcd, ZooKeeper, PostgreSQL
//   BENCH_ROUNDS=5 BENCH_CYCLES=200 npm run bench:backends
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const here = dirname(fileURLToPath(import.meta.url))
const serversScript = join(here, '..', '..', 'conformance', 'live', 'servers.sh')

const fencelock = require('fencelock')
const { Etcd3 } = require('etcd3')
const zookeeper = require('node-zookeeper-client')
const pg = require('pg')

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const CYCLES = Number(process.env.BENCH_CYCLES ?? 200)
const WARMUP = 20

/**
 * @param {string} command
 * @returns {{env: Record<string, string>, stop: () => void}}
 */
function start(command) {
  const dir = mkdtempSync(join(tmpdir(), 'fencelock-bench-'))
  execFileSync(serversScript, [command, join(dir, 'servers')], { stdio: 'ignore' })
  const env = Object.fromEntries(
    readFileSync(join(dir, 'servers', 'env'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])
  )
  return {
    env,
    stop: () => {
      execFileSync(serversScript, ['stop', join(dir, 'servers')], { stdio: 'ignore' })
      rmSync(dir, { recursive: true, force: true })
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

/**
 * @param {(i: number) => Promise<void>} cycle
 * @param {number[]} samples
 */
async function measure(cycle, samples) {
  for (let i = 0; i < WARMUP; i++) await cycle(i)
  for (let i = 0; i < CYCLES; i++) {
    const t0 = performance.now()
    await cycle(i)
    samples.push(performance.now() - t0)
  }
}

async function main() {
  /** @type {{stop: () => void}[]} */
  const started = []
  /** @type {(() => Promise<void> | void)[]} */
  const closers = []
  /** @type {{group: string, name: string, cycle: (i: number) => Promise<void>, samples: number[]}[]} */
  const entries = []
  try {
    // etcd
    let etcdEndpoint = process.env.FENCELOCK_ETCD_ENDPOINTS?.split(',')[0]
    if (etcdEndpoint === undefined) {
      const s = start('start-etcd')
      started.push(s)
      etcdEndpoint = String(s.env.FENCELOCK_ETCD_ENDPOINTS).split(',')[0]
    }
    const etcd = new Etcd3({ hosts: `http://${etcdEndpoint}` })
    closers.push(() => etcd.close())
    const viaGrpc = new fencelock.EtcdLock(etcd, { ttlSecs: 10 })
    const viaFetch = new fencelock.EtcdLock({ endpoints: [`http://${etcdEndpoint}`] }, { ttlSecs: 10 })
    entries.push({
      group: 'etcd',
      name: 'bare etcd3: grant + txn create + delete + revoke',
      samples: [],
      async cycle() {
        const lease = await etcd.leaseClient.leaseGrant({ TTL: 10 })
        const key = Buffer.from(`bench-bare/${BigInt(lease.ID).toString(16)}`)
        await etcd.kv.txn({
          compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
          success: [{ request_put: { key, value: Buffer.alloc(0), lease: lease.ID } }],
          failure: [],
        })
        await etcd.kv.deleteRange({ key })
        await etcd.leaseClient.leaseRevoke({ ID: lease.ID })
      },
    })
    entries.push({ group: 'etcd', name: 'fencelock EtcdLock over etcd3 (gRPC)', samples: [], cycle: async () => (await viaGrpc.acquire('bench-grpc')).release().then(() => {}) })
    entries.push({ group: 'etcd', name: 'fencelock EtcdLock over the JSON gateway (fetch)', samples: [], cycle: async () => (await viaFetch.acquire('bench-fetch')).release().then(() => {}) })

    // ZooKeeper
    let zkEndpoint = process.env.FENCELOCK_ZK_ENDPOINTS
    if (zkEndpoint === undefined) {
      const s = start('start-zookeeper')
      started.push(s)
      zkEndpoint = String(s.env.FENCELOCK_ZK_ENDPOINTS)
    }
    const zk = zookeeper.createClient(zkEndpoint, { sessionTimeout: 10_000 })
    await new Promise((resolve) => {
      zk.once('connected', () => resolve(undefined))
      zk.connect()
    })
    closers.push(() => zk.close())
    await new Promise((resolve, reject) => zk.mkdirp('/bench/bare', (/** @type {unknown} */ e) => (e ? reject(e) : resolve(undefined))))
    const zkLock = new fencelock.ZooKeeperLock(zk)
    /** @type {(f: (cb: any) => void) => Promise<any>} */
    const call = (f) => new Promise((resolve, reject) => f((/** @type {unknown} */ e, /** @type {unknown} */ v) => (e ? reject(e) : resolve(v))))
    entries.push({
      group: 'ZooKeeper',
      name: 'bare node-zookeeper-client: create + getChildren + remove',
      samples: [],
      async cycle() {
        const path = await call((cb) => zk.create('/bench/bare/n-lock-', Buffer.alloc(0), zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL, cb))
        await call((cb) => zk.getChildren('/bench/bare', cb))
        await call((cb) => zk.remove(path, -1, cb))
      },
    })
    entries.push({ group: 'ZooKeeper', name: 'fencelock ZooKeeperLock', samples: [], cycle: async () => (await zkLock.acquire('/bench/lock')).release().then(() => {}) })

    // PostgreSQL
    let pgPort = process.env.FENCELOCK_PG_PORT
    if (pgPort === undefined) {
      const s = start('start-postgres')
      started.push(s)
      pgPort = String(s.env.FENCELOCK_PG_PORT)
    }
    const pool = new pg.Pool({ host: '127.0.0.1', port: Number(pgPort), user: 'postgres', database: 'postgres', max: 4 })
    closers.push(() => pool.end())
    const advisory = new fencelock.AdvisoryLock(pool)
    entries.push({
      group: 'PostgreSQL',
      name: 'bare pg: pg_try_advisory_lock + pg_advisory_unlock',
      samples: [],
      async cycle() {
        const client = await pool.connect()
        try {
          await client.query('SELECT pg_try_advisory_lock(hashtextextended($1, 0))', ['bench-bare'])
          await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', ['bench-bare'])
        } finally {
          client.release()
        }
      },
    })
    entries.push({ group: 'PostgreSQL', name: 'fencelock AdvisoryLock', samples: [], cycle: async () => (await advisory.acquire('bench-advisory')).release().then(() => {}) })

    console.error(`bench: ${ROUNDS} rounds of ${CYCLES} cycles per variant`)
    for (let round = 1; round <= ROUNDS; round++) {
      for (const e of entries) await measure(e.cycle, e.samples)
      console.error(`bench: round ${round}/${ROUNDS} done`)
    }
  } finally {
    for (const close of closers) await close()
    for (const s of started) s.stop()
  }

  const f = (/** @type {number} */ x, digits = 2) => x.toFixed(digits)
  const lines = ['| backend | variant | p50 ms | p95 ms | p50 vs bare | p95 vs bare |', '|---|---|---:|---:|---:|---:|']
  /** @type {Record<string, {p50: number, p95: number}>} */
  const bare = {}
  for (const e of entries) {
    const sorted = [...e.samples].sort((a, b) => a - b)
    const p50 = percentile(sorted, 0.5)
    const p95 = percentile(sorted, 0.95)
    bare[e.group] ??= { p50, p95 }
    const base = /** @type {{p50: number, p95: number}} */ (bare[e.group])
    lines.push(`| ${e.group} | ${e.name} | ${f(p50, 3)} | ${f(p95, 3)} | ${f(p50 / base.p50)}x | ${f(p95 / base.p95)}x |`)
  }
  console.log(lines.join('\n'))
}

await main()
