// Every conformance vector (conformance/vectors/**/*.json) through the wasm
// build in Node: machines and the etcd gateway codec. No file is skipped.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import * as api from 'fencelock-wasm/node'

import { vectorFiles } from './support/files.mjs'
import { parseExact, runVector } from './support/vectors.mjs'

const files = vectorFiles()
/** @type {Record<string, number>} */
const counts = {}

test('the vector directory has vectors', () => {
  assert.ok(files.length > 150, `only ${files.length} vectors found`)
})

for (const { name, text } of files) {
  test(name, () => {
    const kind = runVector(api, parseExact(text))
    counts[kind] = (counts[kind] ?? 0) + 1
  })
}

test('every vector ran (none skipped)', () => {
  const ran = Object.values(counts).reduce((a, b) => a + b, 0)
  console.log(`# vectors run: ${ran} of ${files.length} (${Object.entries(counts).map(([k, n]) => `${k}: ${n}`).join(', ')})`)
  assert.equal(ran, files.length)
})
