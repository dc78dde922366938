#!/usr/bin/env node
// Measurements of the wasm build (numbers for the README, not tests):
//
// 1. Size of the optimized .wasm, raw and gzipped (pkg/web).
// 2. Per-operation cost of one 5-node Redlock cycle through the machine in
//    Node, no I/O: build the machine from a validated template, drain the 5
//    acquire commands, feed a quorum of 3 grants, release, feed 3
//    confirmations; outputs parsed as the drive loop parses them. The same
//    calls through the napi binding (bindings-node, when built) and the pure
//    core (criterion, `cargo bench --bench redlock_cycle`), as ratios.
// 3. Cold start in workerd: process start to listening, the first request
//    (WebAssembly instantiation + first 5-master acquire + release over RESP
//    sockets), and a warm request, against 5 local redis-server masters.
//
//   npm run bench                    all three
//   BENCH_CORE=0 npm run bench       skip the criterion run (uses nothing for core)
//   BENCH_COLD=0 npm run bench       skip the workerd cold start
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const here = dirname(fileURLToPath(import.meta.url))
const root = dirname(here)
const workspace = dirname(root)
const require = createRequire(import.meta.url)

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const CYCLES = Number(process.env.BENCH_CYCLES ?? 20_000)

// ----- 1. size ---------------------------------------------------------------------------
const wasmBytes = readFileSync(join(root, 'pkg', 'web', 'fencelock_wasm_bg.wasm'))
const raw = wasmBytes.length
const gz = gzipSync(wasmBytes, { level: 9 }).length
console.log(`size: optimized .wasm ${(raw / 1024).toFixed(1)} KB raw, ${(gz / 1024).toFixed(1)} KB gzipped (budget < 150 KB / < 60 KB)`)

// ----- 2. per-operation cost -----------------------------------------------------------------
const CONFIG = JSON.stringify({ nodes: 5, ttl: 10_000 })
const BIG = '\\u0000bigint:'
/** @param {string} text */
const parse = (text) => (text.includes(BIG) ? JSON.parse(text, (_, v) => v) : JSON.parse(text))

/**
 * One cycle through a machine object with the drive-loop methods both
 * bindings share: build, driveDrain, driveReplyInt, drive(release).
 * @param {any} template
 * @param {(m: any, json: string) => any} drive
 * @param {number} i
 */
function cycle(template, drive, i) {
  const m = template.build(`{"now":${i},"resources":["orders:42"],"value":"v-${i}","timeout":null}`, '12345')
  let out = m.driveDrain()
  if (typeof out === 'string') parse(out)
  for (let req = 1; req <= 3; req++) {
    out = m.driveReplyInt(i + 1, req, req - 1, 7)
    if (typeof out === 'string') parse(out)
  }
  out = drive(m, `{"type":"release","now":${i + 2}}`)
  if (typeof out === 'string') parse(out)
  for (let req = 6; req <= 8; req++) {
    out = m.driveReplyInt(i + 3, req, req - 6, 1)
    if (typeof out === 'string') parse(out)
  }
  if (m.state !== 'released') throw new Error(`cycle ended in ${m.state}`)
  m.free?.()
}

/**
 * @param {string} name
 * @param {any} template
 * @param {(m: any, json: string) => any} drive
 * @returns {number} median µs per cycle
 */
function measure(name, template, drive) {
  for (let i = 0; i < 2_000; i++) cycle(template, drive, i * 10)
  const samples = []
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < CYCLES; i++) cycle(template, drive, i * 10)
    samples.push(Number(process.hrtime.bigint() - t0) / 1e3 / CYCLES)
  }
  samples.sort((a, b) => a - b)
  const median = /** @type {number} */ (samples[Math.floor(samples.length / 2)])
  console.log(`  ${name.padEnd(34)} ${median.toFixed(2)} µs per cycle (median of ${ROUNDS} rounds of ${CYCLES}; min ${samples[0]?.toFixed(2)})`)
  return median
}

console.log('per-operation cost: one 5-node acquire + release through the machine (build, 5 commands, 3 grants, release, 3 confirmations)')
const glue = require('../pkg/nodejs/fencelock_wasm.js')
const wasmTemplate = new glue.MachineTemplate('redlock', CONFIG)
const wasmUs = measure('wasm (this package, Node)', wasmTemplate, (m, json) => m.drive(json))

/** @type {number | null} */
let napiUs = null
const napiPath = join(workspace, 'bindings-node', 'native.js')
if (existsSync(napiPath)) {
  try {
    const native = require(napiPath)
    const napiTemplate = new native.MachineTemplate('redlock', CONFIG)
    napiUs = measure('napi (bindings-node)', napiTemplate, (m, json) => m.driveJson(json))
  } catch (e) {
    console.log(`  napi (bindings-node): not measured (${/** @type {Error} */ (e).message.split('\n')[0]})`)
  }
} else {
  console.log('  napi (bindings-node): not built; not measured')
}

/** @type {number | null} */
let coreUs = null
if (process.env.BENCH_CORE !== '0') {
  try {
    const out = execFileSync('cargo', ['bench', '-q', '-p', 'fencelock-core', '--bench', 'redlock_cycle', '--', '--warm-up-time', '1', '--measurement-time', '3', '--noplot'], {
      cwd: workspace,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    const m = /time:\s+\[\S+ \S+ (\S+) (ns|µs|us)/.exec(out)
    if (m !== null) {
      coreUs = Number(m[1]) / (m[2] === 'ns' ? 1000 : 1)
      console.log(`  ${'pure core (criterion, native)'.padEnd(34)} ${coreUs.toFixed(2)} µs per cycle (criterion median)`)
    }
  } catch (e) {
    console.log(`  pure core: not measured (${/** @type {Error} */ (e).message.split('\n')[0]})`)
  }
}
const ratio = (/** @type {number | null} */ a, /** @type {number | null} */ b) => (a !== null && b !== null ? `${(a / b).toFixed(2)}x` : 'n/a')
console.log(`  ratios: wasm / napi ${ratio(wasmUs, napiUs)} (target <= 1.5x), wasm / core ${ratio(wasmUs, coreUs)}, napi / core ${ratio(napiUs, coreUs)}`)

// ----- 3. cold start in workerd ------------------------------------------------------------
if (process.env.BENCH_COLD !== '0') {
  const { startServers, startWorkerd } = await import('../test/support/servers.mjs')
  const servers = startServers({ redis: 5 })
  const masters = servers.ports.map((p) => `127.0.0.1:${p}`).join(',')
  const starts = []
  const firsts = []
  const warms = []
  try {
    for (let run = 0; run < 5; run++) {
      const workerd = await startWorkerd({ masters })
      try {
        starts.push(workerd.startup)
        let t0 = performance.now()
        const first = await (await fetch(`${workerd.url}/redlock?name=cold-${run}&hold=0`)).json()
        firsts.push(performance.now() - t0)
        if (!first.ok) throw new Error(JSON.stringify(first))
        const warm = []
        for (let i = 0; i < 5; i++) {
          t0 = performance.now()
          await (await fetch(`${workerd.url}/redlock?name=cold-${run}&hold=0`)).json()
          warm.push(performance.now() - t0)
        }
        warms.push(warm.sort((a, b) => a - b)[2] ?? 0)
      } finally {
        workerd.stop()
      }
    }
  } finally {
    servers.stop()
  }
  const med = (/** @type {number[]} */ xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0
  console.log('cold start in workerd (5 runs, medians; 5 local redis-server masters, RESP over connect()):')
  console.log(`  workerd start to listening (config, module compile): ${med(starts).toFixed(1)} ms`)
  console.log(`  first request: instantiate + first acquire + release (connect 5 sockets, load scripts): ${med(firsts).toFixed(1)} ms`)
  console.log(`  warm request: acquire + release (new sockets per request): ${med(warms).toFixed(1)} ms`)
}
