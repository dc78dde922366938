#!/usr/bin/env node
// `npm test`: type-checks and compiles the TypeScript tests (tsc), then runs them
// with `node --test`, one file at a time: the API tests and the conformance
// vectors need nothing else; each live test file starts its own servers
// (redis-server, etcd, ZooKeeper, PostgreSQL) through conformance/live/servers.sh
// and stops them.
//
//   npm test                       everything
//   FENCELOCK_SKIP_LIVE=1 npm test API tests and vectors only
//   npm test -- <name filter>      only test files whose name contains the filter
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const require = createRequire(import.meta.url)

/**
 * @param {string} command
 * @param {string[]} args
 */
function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' })
  if (result.error) throw result.error
  return result.status ?? 1
}

let tsc
try {
  tsc = require.resolve('typescript/bin/tsc')
} catch {
  console.error('fencelock: the tests need the devDependencies: run `npm install` in bindings-node first')
  process.exit(1)
}

rmSync(join(root, 'build'), { recursive: true, force: true })
if (run(process.execPath, [tsc, '-p', 'tsconfig.test.json']) !== 0) process.exit(1)

const filter = process.argv[2] ?? ''
const dir = join(root, 'build', 'test')
const order = [
  'api',
  'api-backends',
  'vectors',
  'live-redlock',
  'live-faults',
  'live-paused-holder',
  'live-etcd',
  'live-zookeeper',
  'live-zookeeper-ensemble',
  'live-postgres',
]
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.mjs') && f.includes(filter))
  .filter((f) => !(process.env.FENCELOCK_SKIP_LIVE && f.startsWith('live-')))
  .sort((a, b) => {
    const rank = (/** @type {string} */ f) => (order.indexOf(f.replace('.test.mjs', '')) + order.length + 1) % (order.length + 1)
    return rank(a) - rank(b) || a.localeCompare(b)
  })
  .map((f) => join(dir, f))
if (files.length === 0 || !files.every(existsSync)) {
  console.error(`fencelock: no test files match ${JSON.stringify(filter)}`)
  process.exit(1)
}
process.exit(run(process.execPath, ['--test', '--test-concurrency=1', ...files]))
