// PostgreSQL advisory lock against a real PostgreSQL (started here), with `pg`:
// 20 concurrent clients (one pinned connection each) increment a counter row
// through the fenced UPDATE; pg_terminate_backend on the holder: it reports
// the loss, the next holder's token is higher and the old token's write is
// refused; plain SQL users are excluded; bad input.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import pg from 'pg'

import { AdvisoryLock, InvalidInputError, LockLostError, LockNotAcquiredError, SqlFence } from 'fencelock'

import { contendFenced, increasing } from './support/fenced.mjs'
import { awaitBusy, haveCommand, liveAvailable, startServers, unique, until, type Started } from './support/servers.mjs'

const installed = haveCommand('pg_ctl') || haveCommand('psql')
const skip = !liveAvailable ? 'conformance/live/servers.sh not found' : !installed ? 'postgresql not installed' : false

describe('live PostgreSQL', { skip }, () => {
  let servers: Started
  let pool: pg.Pool
  let admin: pg.Client
  let config: pg.ClientConfig

  before(async () => {
    servers = await startServers('start-postgres')
    config = { host: '127.0.0.1', port: Number(servers.env.FENCELOCK_PG_PORT), user: 'postgres', database: 'postgres' }
    pool = new pg.Pool({ ...config, max: 30 })
    admin = new pg.Client(config)
    await admin.connect()
    await admin.query('CREATE TABLE IF NOT EXISTS counters (id text PRIMARY KEY, value bigint NOT NULL, fence_token bigint NOT NULL)')
  })

  after(async () => {
    await admin?.end().catch(() => {})
    await pool?.end().catch(() => {})
    await servers?.stop()
  })

  const rows = () => new SqlFence({ table: 'counters', columns: ['value'], fenceColumn: 'fence_token', keyColumn: 'id' })

  test('20 concurrent clients: no overlap, tokens increase, every fenced UPDATE admitted', async () => {
    const lock = new AdvisoryLock(pool, { checkInterval: 200, retry: { backoff: 'fixed', baseDelay: 5, jitter: 4, maxAttempts: null } })
    const name = unique('pg-counter')
    await admin.query('INSERT INTO counters VALUES ($1, 0, 0)', [name])
    const fence = rows()
    let rejected = 0
    const tally = await contendFenced({
      workers: 20,
      target: 100,
      limit: 90_000,
      acquire: async () => {
        const lease = await lock.acquire(name, { timeout: 30_000 })
        const { rows: [row] } = await admin.query('SELECT value FROM counters WHERE id = $1', [name])
        if (!(await fence.update(admin, name, [Number(row.value) + 1], lease.fencingToken))) rejected += 1
        return lease
      },
    })
    assert.deepStrictEqual(tally.errors, [])
    assert.ok(tally.acquisitions >= 100, `only ${tally.acquisitions} acquisitions`)
    assert.strictEqual(tally.overlaps, 0, 'two holders at once')
    assert.strictEqual(tally.staleWrites + rejected, 0, 'a fenced write was rejected')
    assert.ok(increasing(tally.tokens), 'tokens must strictly increase')
    const { rows: [row] } = await admin.query('SELECT value FROM counters WHERE id = $1', [name])
    assert.ok(Number(row.value) >= tally.acquisitions, 'no lost update')
    assert.strictEqual(pool.totalCount - pool.idleCount, 0, 'every pinned connection went back')
  })

  test('pg_terminate_backend on the holder: lost (session_lost), the next token is higher, the old write is refused', async () => {
    const lock = new AdvisoryLock(pool, { checkInterval: 200 })
    const name = unique('pg-terminated')
    await admin.query('INSERT INTO counters VALUES ($1, 0, 0)', [name])
    const holder = await lock.acquire(name)
    const waiting = lock.acquire(name, { timeout: 20_000 })
    waiting.catch(() => {})
    await admin.query('SELECT pg_terminate_backend($1)', [holder.pid])
    assert.ok(await until(() => holder.signal.aborted, 5_000), 'the holder learned of the loss')
    const reason = holder.signal.reason
    assert.ok(reason instanceof LockLostError)
    assert.strictEqual(reason.reason, 'session_lost')
    const next = await awaitBusy(waiting)
    assert.ok(BigInt(next.fencingToken) > BigInt(holder.fencingToken), 'the next token is higher')
    const fence = rows()
    assert.strictEqual(await fence.update(admin, name, [1], next.fencingToken), true)
    assert.strictEqual(await fence.update(admin, name, [2], holder.fencingToken), false, "the old holder's write is refused")
    assert.strictEqual(await holder.release(), 'session_lost')
    assert.strictEqual(await next.release(), 'released')
    assert.strictEqual(pool.totalCount - pool.idleCount, 0, 'the lost session was closed, the other returned')
  })

  test('plain SQL users and our lock exclude each other; try-lock; bad input', async () => {
    const name = unique('pg-plain')
    const plain = new pg.Client(config)
    await plain.connect()
    try {
      await plain.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [name])
      const lock = new AdvisoryLock(() => {
        const c = new pg.Client(config)
        return c.connect().then(() => c)
      })
      await assert.rejects(lock.acquire(name, { tryLock: true }), (e: unknown) => e instanceof LockNotAcquiredError && e.reason === 'locked')
      await plain.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [name])
      const lease = await lock.acquire(name)
      const { rows: [row] } = await plain.query('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS got', [name])
      assert.strictEqual(row.got, false, 'a plain SQL user is excluded')
      assert.ok(lease.pid > 0)
      assert.strictEqual(await lease.release(), 'released')
      await assert.rejects(lock.acquire(''), { code: 'EMPTY_RESOURCE' })
      assert.throws(() => new AdvisoryLock({}), InvalidInputError)
      await assert.rejects(lock.acquire(name, { timeout: -1 }), InvalidInputError)
    } finally {
      await plain.end()
    }
  })
})
