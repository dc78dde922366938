// The web build in headless Chromium (Debian's package, driven by
// playwright-core; no browser download): a page loads the package as ES
// modules, runs every conformance vector with the shared runner, and reports
// the result back to this test.
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { extname, join, normalize } from 'node:path'
import { after, before, test } from 'node:test'

import { chromium } from 'playwright-core'

import { root, vectorFiles } from './support/files.mjs'

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'
const TYPES = /** @type {Record<string, string>} */ ({ '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json' })

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>fencelock-wasm conformance</title>
<pre id="out">running</pre>
<script type="module">
  import * as api from '/web.js'
  import { runAll } from '/test/support/vectors.mjs'
  try {
    await api.init()
    const files = await (await fetch('/vectors.json')).json()
    const t0 = performance.now()
    const result = runAll(api, files)
    result.ms = performance.now() - t0
    result.machines = api.machineNames()
    result.userAgent = navigator.userAgent
    window.__result = result
    document.getElementById('out').textContent = result.passed + ' passed, ' + result.failed + ' failed'
  } catch (e) {
    window.__result = { error: String(e && e.stack || e) }
  }
</script>`

/** @type {import('node:http').Server} */
let server
let base = ''

before(async () => {
  const vectors = JSON.stringify(vectorFiles())
  server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname
    if (path === '/') {
      response.writeHead(200, { 'content-type': 'text/html' }).end(PAGE)
      return
    }
    if (path === '/vectors.json') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(vectors)
      return
    }
    const file = normalize(join(root, path))
    if (!file.startsWith(root) || !existsSync(file) || !(path.startsWith('/lib/') || path.startsWith('/pkg/web/') || path.startsWith('/test/support/') || path === '/web.js')) {
      response.writeHead(404).end()
      return
    }
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)))
  const address = server.address()
  base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
})

after(() => server?.close())

test('headless Chromium loads the package and passes every conformance vector', { timeout: 120_000 }, async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found (apt-get install -y chromium)`)
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  try {
    const page = await browser.newPage()
    /** @type {string[]} */
    const errors = []
    page.on('pageerror', (e) => errors.push(String(e)))
    await page.goto(base)
    await page.waitForFunction(() => /** @type {any} */ (window).__result !== undefined, undefined, { timeout: 60_000 })
    const result = await page.evaluate(() => /** @type {any} */ (window).__result)
    assert.equal(result.error, undefined, result.error)
    assert.deepEqual(errors, [])
    const expected = vectorFiles().length
    console.log(`# chromium: ${result.userAgent.match(/Chrome\/[0-9.]+/)?.[0]}; vectors ${result.passed} passed, ${result.failed} failed of ${result.total} in ${result.ms.toFixed(0)} ms (${Object.entries(result.counts).map(([k, n]) => `${k}: ${n}`).join(', ')})`)
    assert.deepEqual(result.failures, [])
    assert.equal(result.total, expected)
    assert.equal(result.passed, expected)
    assert.deepEqual(result.machines, ['redlock', 'etcd_mutex', 'etcd_election', 'etcd_observer', 'zookeeper_lock', 'zookeeper_election', 'advisory_lock'])
  } finally {
    await browser.close()
  }
})
