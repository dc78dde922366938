#!/usr/bin/env node
// `npm test`: runs the test files with node --test, one at a time: the
// conformance vectors and bad input under Node, then the workerd tests (real
// redis-server and etcd on loopback, started and stopped by the test) and the
// headless Chromium test. Build first (`npm run build`).
//
//   npm test                         everything
//   npm test -- vectors              only files whose name contains "vectors"
//   FENCELOCK_WASM_SKIP_LIVE=1 npm test   vectors and bad input only
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
if (!existsSync(join(root, 'pkg', 'nodejs', 'fencelock_wasm_bg.wasm'))) {
  console.error('fencelock-wasm: build the package first: npm run build')
  process.exit(1)
}
const filter = process.argv[2] ?? ''
const files = ['vectors', 'bad-input', 'workerd', 'chromium']
  .filter((f) => f.includes(filter))
  .filter((f) => !(process.env.FENCELOCK_WASM_SKIP_LIVE && ['workerd', 'chromium'].includes(f)))
  .map((f) => join(root, 'test', `${f}.test.mjs`))
if (files.length === 0) {
  console.error(`fencelock-wasm: no test files match ${JSON.stringify(filter)}`)
  process.exit(1)
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { cwd: root, stdio: 'inherit' })
process.exit(result.status ?? 1)
