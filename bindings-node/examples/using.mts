// `using`: hold a lock while a routine runs, with auto-extension; the routine's
// AbortSignal fires (reason: a LockLostError) if the lease is lost. Works the
// same with node-redis clients.
import { createClient } from 'redis'

import { LockLostError, Redlock, type RedlockEventPayload } from 'fencelock'

const clients = await Promise.all([7001, 7002, 7003].map((port) => createClient({ socket: { port } }).connect()))
const redlock = new Redlock(clients, { ttl: 5_000 })

// Metrics: acquisition latency, attempts, contention, hold time.
redlock.events.on('acquired', (e: RedlockEventPayload) => console.log('acquired', e.resources, e.stats))
redlock.events.on('released', (e: RedlockEventPayload) => console.log('held for', e.heldFor, 'ms'))

const report = await redlock.using(['reports:daily'], async (signal, lease) => {
  for (let page = 0; page < 10; page++) {
    if (signal.aborted) {
      const reason = signal.reason as LockLostError
      throw new Error(`stopped at page ${page}: lease lost (${reason.reason})`)
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000)) // one page of work
  }
  return `10 pages under token ${lease.fencingToken}`
})
console.log(report)
await Promise.all(clients.map((c) => c.quit()))
