// Workers contending for one lock that protects a fenced counter: each holder
// reads the counter, adds one and writes it back through RedisFence with its
// token. Records overlaps (two holders at once), the token order and stale
// writes, for the live tests to assert on.
import { LockNotAcquiredError, RedisFence, type Redlock } from 'fencelock'

import { sleep } from './servers.mjs'

export interface Tally {
  acquisitions: number
  overlaps: number
  staleWrites: number
  failedAcquires: number
  writesPastValidity: number
  tokens: (number | bigint)[]
  errors: unknown[]
}

export interface ContentionOptions {
  workers: number
  /** Stop once this many acquisitions were counted. */
  until: () => boolean
  /** Each worker's Redlock (workers may share one). */
  redlock: (worker: number) => Redlock
  lock: string
  fence: RedisFence
  /** Reads the counter's current value. */
  read: () => Promise<number>
  /** Acquire deadline, ms. */
  timeout?: number
  tally?: Tally
  /** Hard bound on the run, ms. */
  limit?: number
}

export function newTally(): Tally {
  return { acquisitions: 0, overlaps: 0, staleWrites: 0, failedAcquires: 0, writesPastValidity: 0, tokens: [], errors: [] }
}

/** Runs the workers until `until()` holds (or `limit` ms pass); resolves with the tally. */
export async function contend(options: ContentionOptions): Promise<Tally> {
  const tally = options.tally ?? newTally()
  const deadline = performance.now() + (options.limit ?? 60_000)
  let holders = 0
  const worker = async (id: number) => {
    const redlock = options.redlock(id)
    while (!options.until() && performance.now() < deadline) {
      let lease
      try {
        lease = await redlock.acquire(options.lock, { timeout: options.timeout ?? 10_000 })
      } catch (e) {
        if (e instanceof LockNotAcquiredError) {
          tally.failedAcquires += 1
          continue
        }
        tally.errors.push(e)
        return
      }
      holders += 1
      if (holders > 1) tally.overlaps += 1
      try {
        if (!options.until()) {
          const token = lease.fencingToken
          if (token === null) throw new Error('no fencing token')
          tally.tokens.push(token)
          const counter = await options.read()
          const write = await options.fence.write(token, String(counter + 1))
          if (!write.accepted) tally.staleWrites += 1
          if (lease.remaining() <= 0) tally.writesPastValidity += 1
          tally.acquisitions += 1
        }
      } catch (e) {
        tally.errors.push(e)
      } finally {
        holders -= 1
      }
      await lease.release()
      // Some other work between two jobs, as a real worker would do.
      await sleep(1 + Math.floor(Math.random() * 3))
    }
  }
  await Promise.all(Array.from({ length: options.workers }, (_, i) => worker(i)))
  return tally
}

/** Whether `tokens` strictly increase. */
export function strictlyIncreasing(tokens: readonly (number | bigint)[]): boolean {
  for (let i = 1; i < tokens.length; i++) {
    if (!(BigInt(tokens[i - 1]!) < BigInt(tokens[i]!))) return false
  }
  return true
}
