// Runs every conformance vector (conformance/vectors/**/*.json) through the
// native machines, following conformance/README.md: every file runs, outputs
// are compared as JSON values (in order), unknown expectation keys fail, and a
// rejected input must leave the machine unchanged and silent.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { after, describe, test } from 'node:test'

import {
  createMachine,
  FencelockError,
  gatewayDecode,
  gatewayDecodeWatchLine,
  gatewayEncode,
  machineNames,
  type Machine,
} from 'fencelock'

import { parseExact, type Json } from './support/json.mjs'
import { vectorsDir } from './support/paths.mjs'

const EXPECT_KEYS = new Set(['outputs', 'timeout', 'state', 'error'])

function vectorFiles(dir: string): string[] {
  const files: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) files.push(...vectorFiles(path))
    else if (name.endsWith('.json')) files.push(path)
  }
  return files
}

type Expect = { [key: string]: Json }
type Vector = {
  machine?: string
  codec?: string
  description: string
  config: object
  init: object
  expect_init: Expect
  steps?: { input: object; expect: Expect }[]
}

function check(label: string, expect: Expect, outputs: unknown[], machine: Machine) {
  // Besides the common keys, a machine's own getters (`lease` for Redlock).
  const views = machine.views
  for (const key of Object.keys(expect)) {
    assert.ok(EXPECT_KEYS.has(key) || views.includes(key), `${label}: unknown expectation ${JSON.stringify(key)}`)
  }
  if ('outputs' in expect) assert.deepStrictEqual(outputs, expect.outputs, `${label}: outputs differ`)
  if ('timeout' in expect) assert.deepStrictEqual(machine.pollTimeout(), expect.timeout, `${label}: timeout differs`)
  if ('state' in expect) assert.strictEqual(machine.state, expect.state, `${label}: state differs`)
  for (const view of views) {
    if (view in expect) assert.deepStrictEqual(machine.view(view), expect[view], `${label}: ${view} differs`)
  }
}

/** Every getter of the machine, to check that a rejected input changed none. */
function snapshot(m: Machine) {
  return { state: m.state, timeout: m.pollTimeout(), views: m.views.map((v) => m.view(v)) }
}

function codeOf(fn: () => unknown): string | null {
  try {
    fn()
    return null
  } catch (e) {
    assert.ok(e instanceof FencelockError, `expected a FencelockError, got ${e}`)
    return e.code
  }
}

function run(v: Vector) {
  let machine: Machine | undefined
  const initError = codeOf(() => {
    machine = createMachine(String(v.machine), v.config, v.init)
  })
  if ('error' in v.expect_init) {
    assert.strictEqual(initError, v.expect_init.error, 'init: expected a config error')
    assert.strictEqual(v.steps?.length ?? 0, 0, 'a failing init has no steps')
    return
  }
  assert.strictEqual(initError, null, `init: unexpected error ${initError}`)
  const m = machine as Machine
  check('init', v.expect_init, m.drain(), m)
  for (const [i, step] of (v.steps ?? []).entries()) {
    const label = `step ${i + 1}`
    const before = snapshot(m)
    const error = codeOf(() => m.handleInput(step.input))
    if ('error' in step.expect) {
      assert.strictEqual(error, step.expect.error, `${label}: expected error`)
      // A rejected input leaves the machine unchanged and says nothing.
      assert.deepStrictEqual(snapshot(m), before, `${label}: changed`)
      assert.deepStrictEqual(m.drain(), [], `${label}: emitted after a rejected input`)
    } else {
      assert.strictEqual(error, null, `${label}: unexpected error ${error}`)
    }
    check(label, step.expect, m.drain(), m)
  }
}

type CodecCase = {
  command?: object
  request?: Json
  response?: string
  watch_line?: string
  reply?: Json
  error?: string
}

/** A codec vector: each case encodes a command and / or decodes a response or a watch line. */
function runCodec(v: { codec: string; cases: CodecCase[] }) {
  assert.strictEqual(v.codec, 'etcd_gateway', `unknown codec ${v.codec}`)
  for (const [i, c] of v.cases.entries()) {
    const label = `case ${i + 1}`
    for (const key of Object.keys(c)) {
      assert.ok(['command', 'request', 'response', 'watch_line', 'reply', 'error'].includes(key), `${label}: unknown key ${key}`)
    }
    let outcome: { reply?: unknown; error?: string } | null = null
    const attempt = (fn: () => unknown) => {
      try {
        return { reply: fn() }
      } catch (e) {
        assert.ok(e instanceof FencelockError, `${label}: expected a FencelockError, got ${e}`)
        return { error: e.code }
      }
    }
    if (c.watch_line !== undefined) {
      outcome = attempt(() => gatewayDecodeWatchLine(c.watch_line as string))
    } else {
      const command = c.command as object
      if ('request' in c) {
        const request = gatewayEncode(command)
        const actual = request === null ? null : { path: request.path, body: parseExact(request.body) }
        assert.deepStrictEqual(actual, c.request, `${label}: request differs`)
      }
      if (c.response === undefined) continue
      const response = c.response
      outcome = attempt(() => gatewayDecode(command, response))
    }
    if ('reply' in c) {
      assert.strictEqual(outcome?.error, undefined, `${label}: unexpected error ${outcome?.error}`)
      assert.deepStrictEqual(outcome?.reply, c.reply, `${label}: reply differs`)
    } else {
      assert.strictEqual(outcome?.error, c.error, `${label}: expected error ${c.error}`)
    }
  }
}

const files = vectorFiles(vectorsDir)
const exposed = new Set(machineNames())
const counts = new Map<string, number>()

test('the vector directory has vectors', () => {
  assert.ok(files.length > 0, `no vectors under ${vectorsDir}`)
})

describe('conformance vectors', () => {
  for (const path of files) {
    const name = relative(vectorsDir, path)
    const vector = parseExact(readFileSync(path, 'utf8')) as unknown as Vector
    if (vector.codec !== undefined) {
      const kind = `codec ${vector.codec}`
      test(name, () => {
        runCodec(vector as unknown as { codec: string; cases: CodecCase[] })
        counts.set(kind, (counts.get(kind) ?? 0) + 1)
      })
      continue
    }
    const machine = String(vector.machine)
    test(name, () => {
      // Every file runs: a machine this build does not expose is a failure.
      assert.ok(exposed.has(machine), `machine ${machine} is not exposed by this build`)
      run(vector)
      counts.set(machine, (counts.get(machine) ?? 0) + 1)
    })
  }
})

after(() => {
  const ran = [...counts].map(([m, n]) => `${m}: ${n}`).join(', ')
  const total = [...counts.values()].reduce((a, b) => a + b, 0)
  console.log(`vectors run: ${total} of ${files.length} (${ran}); skipped: 0`)
  assert.strictEqual(total, files.length, 'every vector file must run')
})
