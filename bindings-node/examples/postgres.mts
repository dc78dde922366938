// A PostgreSQL advisory lock with a fencing token, over pg: each held lock pins
// one pooled connection for its whole life; the fenced UPDATE refuses writes
// from an older token. Plain SQL users share the lock:
//   SELECT pg_advisory_lock(hashtextextended('orders', 0))
import pg from 'pg'

import { AdvisoryLock, LockNotAcquiredError, SessionNotPinnedError, SqlFence } from 'fencelock'

const pool = new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
const lock = new AdvisoryLock(pool, { checkInterval: 1_000 })
const accounts = new SqlFence({ table: 'accounts', columns: ['balance'], fenceColumn: 'fence_token', keyColumn: 'id' })

try {
  await using lease = await lock.acquire('orders', { timeout: 5_000 })
  const written = await accounts.update(pool, 42, [100], lease.fencingToken)
  console.log(`backend ${lease.pid}, token ${lease.fencingToken}, written: ${written}`)
} catch (e) {
  if (e instanceof SessionNotPinnedError) console.log('the connection is not pinned: use a direct connection or session pooling')
  else if (e instanceof LockNotAcquiredError) console.log(`not acquired: ${e.reason}`)
  else throw e
} finally {
  await pool.end()
}
