#!/usr/bin/env node
// Builds the wasm package: cargo (wasm32-unknown-unknown, size-optimized
// profile), wasm-bindgen for `--target web` (browsers, workers) and `--target
// nodejs`, then binaryen's wasm-opt -Oz from npm (never an older system
// wasm-opt: its output fails to load). Installs the wasm-bindgen CLI matching
// the crate's wasm-bindgen version when it is missing or differs. Prints the
// optimized .wasm size, raw and gzipped.
//
//   node scripts/build.mjs            (npm run build)
//   CARGO_TARGET_DIR=... node scripts/build.mjs
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const workspace = dirname(root)
const log = (/** @type {string} */ message) => console.log(`[build-wasm] ${message}`)

/**
 * @param {string} command
 * @param {string[]} args
 * @param {Record<string, string>} [env]
 */
function run(command, args, env = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } })
  if (result.error) throw result.error
  if (result.status !== 0) {
    console.error(`[build-wasm] ${command} ${args.join(' ')} failed (exit ${result.status})`)
    process.exit(1)
  }
}

// The wasm-bindgen version the crate resolved to, from the workspace lockfile.
const lock = readFileSync(join(workspace, 'Cargo.lock'), 'utf8')
const match = /\[\[package\]\]\nname = "wasm-bindgen"\nversion = "([^"]+)"/.exec(lock)
if (match === null) {
  console.error('[build-wasm] wasm-bindgen is not in Cargo.lock: run `cargo generate-lockfile` or build the workspace once')
  process.exit(1)
}
const version = /** @type {string} */ (match[1])
/** @returns {string} */
function cliVersion() {
  try {
    return execFileSync('wasm-bindgen', ['--version'], { encoding: 'utf8' }).trim()
  } catch {
    return ''
  }
}
if (cliVersion() !== `wasm-bindgen ${version}`) {
  log(`installing wasm-bindgen-cli ${version} (cargo install; about 2 minutes)`)
  // Not --locked: the locked build pins a dependency version the registry may lack.
  run('cargo', ['install', 'wasm-bindgen-cli', '--version', version])
  if (cliVersion() !== `wasm-bindgen ${version}`) {
    console.error(`[build-wasm] wasm-bindgen on PATH is "${cliVersion()}", not ${version} (is ~/.cargo/bin on PATH?)`)
    process.exit(1)
  }
}

const wasmOpt = join(root, 'node_modules', '.bin', 'wasm-opt')
if (!existsSync(wasmOpt)) {
  console.error('[build-wasm] binaryen is missing: run `npm ci` in bindings-wasm first')
  process.exit(1)
}

// A size-optimized profile of its own, so the workspace's release artifacts
// (and their fingerprints) stay untouched.
log('cargo build (wasm32-unknown-unknown, profile wasm-release: opt-level z, LTO, panic abort)')
const profile = [
  ['inherits', '"release"'],
  ['opt-level', '"z"'],
  ['lto', 'true'],
  ['codegen-units', '1'],
  ['panic', '"abort"'],
  ['strip', '"debuginfo"'],
  ['debug', 'false'],
].flatMap(([k, v]) => ['--config', `profile.wasm-release.${k}=${v}`])
run('cargo', ['build', '-p', 'fencelock-wasm', '--target', 'wasm32-unknown-unknown', '--profile', 'wasm-release', ...profile])
const targetDir = process.env.CARGO_TARGET_DIR ?? join(workspace, 'target')
const built = join(targetDir, 'wasm32-unknown-unknown', 'wasm-release', 'fencelock_wasm.wasm')

const sizes = /** @type {Record<string, number>} */ ({})
for (const target of ['web', 'nodejs']) {
  const out = join(root, 'pkg', target)
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  log(`wasm-bindgen --target ${target}`)
  run('wasm-bindgen', ['--target', target, '--weak-refs', '--out-dir', out, built])
  const wasm = join(out, 'fencelock_wasm_bg.wasm')
  sizes[`${target}-bindgen`] = statSync(wasm).size
  log(`wasm-opt -Oz (binaryen from npm) on pkg/${target}`)
  run(wasmOpt, ['-Oz', '--strip-debug', '--strip-producers', '--enable-bulk-memory', '--enable-nontrapping-float-to-int',
    '--enable-sign-ext', '--enable-mutable-globals', '--enable-reference-types', '--enable-multivalue', wasm, '-o', `${wasm}.opt`])
  copyFileSync(`${wasm}.opt`, wasm)
  rmSync(`${wasm}.opt`)
  if (target === 'nodejs') {
    // The nodejs glue is CommonJS inside an ES module package.
    writeFileSync(join(out, 'package.json'), '{ "type": "commonjs" }\n')
  }
}
rmSync(join(root, 'pkg', '.gitignore'), { force: true })

const wasm = readFileSync(join(root, 'pkg', 'web', 'fencelock_wasm_bg.wasm'))
const raw = wasm.length
const gz = gzipSync(wasm, { level: 9 }).length
const kb = (/** @type {number} */ n) => `${(n / 1024).toFixed(1)} KB`
log(`rustc output ${kb(statSync(built).size)}, after wasm-bindgen ${kb(sizes['web-bindgen'] ?? 0)}`)
log(`optimized fencelock_wasm_bg.wasm: ${raw} bytes (${kb(raw)}) raw, ${gz} bytes (${kb(gz)}) gzipped` +
  ` (budget < 150 KB raw, < 60 KB gzipped: ${raw < 150 * 1024 && gz < 60 * 1024 ? 'within' : 'OVER'})`)
writeFileSync(join(root, 'pkg', 'size.json'), `${JSON.stringify({ raw, gzip: gz }, null, 2)}\n`)
