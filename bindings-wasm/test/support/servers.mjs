// Loopback servers for the live tests, through conformance/live/servers.sh:
// redis-server masters and an etcd member, each set in its own directory,
// stopped by `stop()` (also on process exit).
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { root, workspace } from './files.mjs'

const script = join(workspace, 'conformance', 'live', 'servers.sh')

/** @param {string} file @returns {Record<string, string>} */
function readEnv(file) {
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])
  )
}

/**
 * Starts `redis` redis-servers (0: none) and, if `etcd`, one etcd member.
 * @param {{redis?: number, etcd?: boolean}} what
 */
export function startServers(what) {
  const base = process.env.FENCELOCK_SERVERS_DIR ?? tmpdir()
  const dir = mkdtempSync(join(base, 'wasm-servers-'))
  /** @type {string[]} */
  const started = []
  const stop = () => {
    for (const d of started.splice(0)) {
      try {
        execFileSync(script, ['stop', d], { stdio: 'ignore' })
      } catch {
        // already stopped
      }
    }
    rmSync(dir, { recursive: true, force: true })
  }
  process.once('exit', stop)
  /** @type {number[]} */
  let ports = []
  let etcd = ''
  try {
    if (what.redis) {
      const d = join(dir, 'redis')
      started.push(d)
      execFileSync(script, ['start-redis', String(what.redis), d], { stdio: 'ignore' })
      ports = (readEnv(join(d, 'env')).FENCELOCK_REDIS_PORTS ?? '').split(',').map(Number)
    }
    if (what.etcd) {
      const d = join(dir, 'etcd')
      started.push(d)
      execFileSync(script, ['start-etcd', d], { stdio: 'ignore' })
      etcd = `http://${(readEnv(join(d, 'env')).FENCELOCK_ETCD_ENDPOINTS ?? '').split(',')[0]}`
    }
  } catch (e) {
    stop()
    throw e
  }
  return { ports, etcd, stop }
}

/** A free loopback port. @returns {Promise<number>} */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/**
 * Starts workerd with test/workerd/config.capnp on a free port and waits until
 * it answers. Resolves with its base URL, the time it took, and `stop()`.
 * @param {{etcd?: string, masters?: string, resource?: string}} env
 */
export async function startWorkerd(env) {
  const port = await freePort()
  const t0 = performance.now()
  const child = spawn(join(root, 'node_modules', '.bin', 'workerd'), ['serve', join(root, 'test', 'workerd', 'config.capnp'), '--socket-addr', `http=127.0.0.1:${port}`], {
    env: {
      ...process.env,
      FENCELOCK_WORKERD_ETCD: env.etcd ?? 'http://127.0.0.1:1',
      FENCELOCK_WORKERD_MASTERS: env.masters ?? '127.0.0.1:1',
      FENCELOCK_WORKERD_RESOURCE: env.resource ?? '127.0.0.1:1',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  const stop = () => {
    if (child.exitCode === null) child.kill('SIGTERM')
  }
  process.once('exit', stop)
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`workerd exited with ${child.exitCode}`)
    try {
      await fetch(`${url}/ready`)
      return { url, startup: performance.now() - t0, stop, child }
    } catch {
      await new Promise((r) => setTimeout(r, 25))
    }
  }
  stop()
  throw new Error('workerd did not start listening')
}
