#!/usr/bin/env node
'use strict'
// Builds the native module from source with cargo and puts it where native.js
// looks for it (fencelock.<platform>-<arch>[-<abi>].node). Runs as the package's
// install script, so `npm install ./bindings-node` works on any machine with
// Rust; nothing is downloaded except crates from the cargo registry.
//
//   FENCELOCK_NODE_PROFILE=debug   build without optimisations (faster to build)
//   CARGO_TARGET_DIR=...           where cargo builds (honoured as usual)

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')

/** The suffix napi-rs' loader (native.js) expects for this platform. */
function platformSuffix() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const report = /** @type {any} */ (process.report?.getReport?.())
    const glibc = report?.header?.glibcVersionRuntime
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

/** File name cargo gives the cdylib on this platform. */
function libraryName() {
  if (process.platform === 'win32') return 'fencelock_node.dll'
  if (process.platform === 'darwin') return 'libfencelock_node.dylib'
  return 'libfencelock_node.so'
}

/**
 * @param {string[]} args
 * @param {import('node:child_process').SpawnSyncOptions} [options]
 */
function cargo(args, options = {}) {
  const result = spawnSync(process.env.CARGO || 'cargo', args, { cwd: root, ...options })
  if (result.error) {
    const error = /** @type {NodeJS.ErrnoException} */ (result.error)
    if (error.code === 'ENOENT') {
      console.error('fencelock: building the native module needs Rust (cargo); install it with rustup and retry')
    } else {
      console.error(`fencelock: could not run cargo: ${error.message}`)
    }
    process.exit(1)
  }
  return result
}

function targetDir() {
  if (process.env.CARGO_TARGET_DIR) return path.resolve(root, process.env.CARGO_TARGET_DIR)
  const meta = cargo(['metadata', '--format-version', '1', '--no-deps', '--manifest-path', path.join(root, 'Cargo.toml')], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  if (meta.status !== 0) {
    process.stderr.write(String(meta.stderr))
    process.exit(1)
  }
  return JSON.parse(String(meta.stdout)).target_directory
}

function main() {
  const profile = process.env.FENCELOCK_NODE_PROFILE === 'debug' ? 'debug' : 'release'
  const args = ['build', '--manifest-path', path.join(root, 'Cargo.toml'), '--lib']
  if (profile === 'release') args.push('--release')
  const build = cargo(args, { stdio: 'inherit' })
  if (build.status !== 0) {
    console.error(`fencelock: cargo build failed (exit ${build.status})`)
    process.exit(build.status || 1)
  }
  const built = path.join(targetDir(), profile, libraryName())
  const dest = path.join(root, `fencelock.${platformSuffix()}.node`)
  const tmp = `${dest}.${process.pid}.tmp`
  fs.copyFileSync(built, tmp)
  fs.renameSync(tmp, dest)
  console.log(`fencelock: built ${path.relative(root, dest)} (${profile})`)
}

main()
