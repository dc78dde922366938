#!/usr/bin/env node
// The demo's workerd contender (scripts/demo.sh): starts workerd with the wasm
// build (test/workerd/config.capnp) and sends it concurrent requests; inside
// the Worker each request is a worker that takes the shared Redlock lock over
// RESP sockets (connect()) on the five masters, reads the fenced counter in the
// sixth Redis, adds one and writes it back through the fenced-set script with
// its token, alongside the Rust, Python and Node workers of the same run.
//
//   node examples/demo-workerd.mjs --lock NAME [--counter KEY] [--log PATH] [--acquisitions N] [--workers N]
//
// Masters and resource: the first five ports of FENCELOCK_REDIS_PORTS and the
// sixth (servers.sh start-redis 6 DIR). `--log` gets one `counter token` line
// per admitted write, for the check across processes. The counter defaults to
// `NAME-counter`, as the other demo workers use.
import { writeFileSync } from 'node:fs'

import { startWorkerd } from '../test/support/servers.mjs'


const o = { lock: '', counter: '', log: '', acquisitions: 60, workers: 3 }
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i += 2) {
  const [flag, value] = [argv[i], argv[i + 1]]
  if (value === undefined) throw new Error(`${flag} needs a value`)
  if (flag === '--lock') o.lock = value
  else if (flag === '--counter') o.counter = value
  else if (flag === '--log') o.log = value
  else if (flag === '--acquisitions') o.acquisitions = Number(value)
  else if (flag === '--workers') o.workers = Number(value)
  else throw new Error(`unknown argument ${flag}`)
}
if (!o.lock) o.lock = `demo-wasm-${Math.floor(Math.random() * 1e6)}`
if (!o.counter) o.counter = `${o.lock}-counter`
const ports = (process.env.FENCELOCK_REDIS_PORTS ?? '').split(',').filter(Boolean)
if (ports.length < 6) {
  console.error('demo-workerd: FENCELOCK_REDIS_PORTS must list 5 masters and a resource (servers.sh start-redis 6 DIR)')
  process.exit(2)
}
const workerd = await startWorkerd({
  masters: ports.slice(0, 5).map((p) => `127.0.0.1:${p}`).join(','),
  resource: `127.0.0.1:${ports[5]}`,
})
console.log(`workerd demo: ${o.workers} concurrent requests to a Worker (wasm, RESP over connect()), ${o.acquisitions} acquisitions, lock ${JSON.stringify(o.lock)}`)
const started = performance.now()
const share = Math.ceil(o.acquisitions / o.workers)
/** @type {string[]} */
const errors = []
/** @type {[number, number, number][]} */
const writes = []
let stale = 0
await Promise.all(
  Array.from({ length: o.workers }, async (_, id) => {
    const query = new URLSearchParams({ lock: o.lock, counter: o.counter, acquisitions: String(share) })
    try {
      const body = await (await fetch(`${workerd.url}/demo?${query}`)).json()
      if (!body.ok) throw new Error(`${body.code}: ${body.message}`)
      stale += body.stale
      for (const [counter, token, latency] of body.writes) {
        writes.push([counter, Number(token), latency])
        console.log(`wasm request ${id} counter ${String(counter).padEnd(5)} token ${String(token).padEnd(6)} acquired in ${latency} ms`)
      }
    } catch (e) {
      errors.push(`request ${id}: ${e}`)
    }
  })
)
workerd.stop()
if (o.log) writeFileSync(o.log, writes.map(([c, t]) => `${c} ${t}\n`).join(''))
const tokens = [...writes].sort((a, b) => a[0] - b[0]).map(([, t]) => t)
const increasing = tokens.every((t, i) => i === 0 || (tokens[i - 1] ?? 0) < t)
console.log(`--- workerd summary (${((performance.now() - started) / 1000).toFixed(1)} s) ---`)
console.log(`acquisitions: ${writes.length}`)
console.log(`tokens strictly increasing: ${increasing}`)
console.log(`stale writes rejected: ${stale} (expected 0)`)
for (const e of errors) console.log(`error: ${e}`)
const ok = errors.length === 0 && writes.length >= o.acquisitions && stale === 0 && increasing
console.log(ok ? 'workerd workers: invariant held' : 'workerd workers: INVARIANT BROKEN')
process.exit(ok ? 0 : 1)
