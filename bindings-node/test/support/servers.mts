// Starts and stops loopback redis-server processes through
// conformance/live/servers.sh, so each live test file has servers of its own
// (fault tests SIGSTOP and SIGKILL some of them).
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

import { serversScript } from './paths.mjs'

const run = promisify(execFile)

export interface Servers {
  ports: number[]
  pids: number[]
  stop(): Promise<void>
}

/** Whether the live tests can run here (the servers script is next to the package). */
export const liveAvailable = existsSync(serversScript)

/** Starts `n` redis-server processes on free loopback ports. */
export async function startRedis(n: number): Promise<Servers> {
  // Under FENCELOCK_SERVERS_DIR when set (scripts/test.sh stops whatever is left
  // there, even if a test process dies), else under the system's temp directory.
  const dir = mkdtempSync(join(process.env.FENCELOCK_SERVERS_DIR ?? tmpdir(), 'fencelock-node-'))
  const serversDir = join(dir, 'servers')
  await run(serversScript, ['start-redis', String(n), serversDir], { timeout: 60_000 })
  const env = Object.fromEntries(
    readFileSync(join(serversDir, 'env'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split('=') as [string, string])
  )
  const list = (name: string) => String(env[name]).split(',').map(Number)
  let stopped = false
  return {
    ports: list('FENCELOCK_REDIS_PORTS'),
    pids: list('FENCELOCK_REDIS_PIDS'),
    async stop() {
      if (stopped) return
      stopped = true
      await run(serversScript, ['stop', serversDir], { timeout: 60_000 }).catch(() => {})
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

let counter = 0
/** A name no other test run uses. */
export function unique(prefix: string): string {
  counter += 1
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`
}

/** Servers started by one `servers.sh start-*` command, with their env file. */
export interface Started {
  env: Record<string, string>
  /** A list from the env file (`FENCELOCK_..._ENDPOINTS`, `..._PIDS`). */
  list(name: string): string[]
  stop(): Promise<void>
}

/**
 * Runs `servers.sh <command> [...args] DIR` (etcd, ZooKeeper, PostgreSQL) in a
 * directory of its own and reads its env file.
 */
export async function startServers(command: string, ...args: string[]): Promise<Started> {
  const dir = mkdtempSync(join(process.env.FENCELOCK_SERVERS_DIR ?? tmpdir(), 'fencelock-node-'))
  const serversDir = join(dir, 'servers')
  await run(serversScript, [command, ...args, serversDir], { timeout: 120_000 })
  const env = Object.fromEntries(
    readFileSync(join(serversDir, 'env'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => {
        const at = line.indexOf('=')
        return [line.slice(0, at), line.slice(at + 1)] as [string, string]
      })
  )
  let stopped = false
  return {
    env,
    list: (name: string) => String(env[name] ?? '').split(',').filter((s) => s !== ''),
    async stop() {
      if (stopped) return
      stopped = true
      await run(serversScript, ['stop', serversDir], { timeout: 60_000 }).catch(() => {})
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Whether a command exists on PATH. */
export function haveCommand(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, name)))
}

/** Polls `predicate` every 10 ms until it holds (keeps the event loop busy meanwhile); false after `ms`. */
export async function until(predicate: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms
  while (performance.now() < deadline) {
    if (await predicate()) return true
    await sleep(10)
  }
  return predicate()
}

/** Resolves `promise` while keeping the event loop busy (held leases' timers do not hold the process open). */
export async function awaitBusy<T>(promise: Promise<T>, ms = 60_000): Promise<T> {
  let settled = false
  const tracked = promise.finally(() => {
    settled = true
  })
  tracked.catch(() => {}) // handled by the caller, once returned
  await until(() => settled, ms)
  return tracked
}
