// Contending workers on one lock (any backend) protecting a fenced counter:
// each holder reads the counter, yields, and writes it back through a
// FenceGuard with its token. Records overlaps, token order, stale writes.
import { FenceGuard, LockNotAcquiredError } from 'fencelock'

import { sleep } from './servers.mjs'

export interface Held {
  fencingToken: number | bigint
  signal: AbortSignal
  release(): Promise<unknown>
}

export interface FencedTally {
  acquisitions: number
  overlaps: number
  staleWrites: number
  failedAcquires: number
  lost: number
  tokens: (number | bigint)[]
  counter: number
  errors: unknown[]
}

export interface FencedOptions {
  workers: number
  /** Stop once this many acquisitions were counted. */
  target: number
  acquire: (worker: number) => Promise<Held>
  /** Hard bound on the run, ms. */
  limit?: number
  /** Time spent holding, ms (after the write). */
  hold?: number
  /** Called after each acquisition (fault injection). */
  onAcquired?: (n: number) => void | Promise<void>
}

/** Runs the workers until `target` acquisitions (or `limit` ms); resolves with the tally. */
export async function contendFenced(options: FencedOptions): Promise<FencedTally> {
  const tally: FencedTally = { acquisitions: 0, overlaps: 0, staleWrites: 0, failedAcquires: 0, lost: 0, tokens: [], counter: 0, errors: [] }
  const guard = new FenceGuard()
  const deadline = performance.now() + (options.limit ?? 60_000)
  // Holders in their critical section; one whose lease is lost does not count.
  const holding = new Set<Held>()
  const worker = async (id: number) => {
    while (tally.acquisitions < options.target && performance.now() < deadline) {
      let lease: Held
      try {
        lease = await options.acquire(id)
      } catch (e) {
        if (e instanceof LockNotAcquiredError) {
          tally.failedAcquires += 1
          await sleep(5)
          continue
        }
        if ((e as { code?: string })?.code === 'LEASE_LOST') {
          tally.lost += 1
          continue
        }
        tally.errors.push(e)
        return
      }
      if (!lease.signal.aborted && [...holding].some((h) => !h.signal.aborted)) tally.overlaps += 1
      holding.add(lease)
      try {
        if (tally.acquisitions < options.target && !lease.signal.aborted) {
          const token = lease.fencingToken
          tally.tokens.push(token)
          const seen = tally.counter
          await sleep(1)
          if (guard.admit(token).accepted) tally.counter = seen + 1
          else tally.staleWrites += 1
          tally.acquisitions += 1
          await options.onAcquired?.(tally.acquisitions)
          if (options.hold) await sleep(options.hold)
        }
      } catch (e) {
        tally.errors.push(e)
      } finally {
        holding.delete(lease)
      }
      if (lease.signal.aborted) tally.lost += 1
      await lease.release().catch((e) => tally.errors.push(e))
      await sleep(1 + Math.floor(Math.random() * 3))
    }
  }
  await Promise.all(Array.from({ length: options.workers }, (_, i) => worker(i)))
  return tally
}

/** Whether `tokens` strictly increase. */
export function increasing(tokens: readonly (number | bigint)[]): boolean {
  for (let i = 1; i < tokens.length; i++) {
    if (!(BigInt(tokens[i - 1]!) < BigInt(tokens[i]!))) return false
  }
  return true
}
