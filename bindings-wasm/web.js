// fencelock-wasm for browsers and edge workers (the `--target web` build).
// Load the module first: `await init()` (fetches the .wasm next to the glue),
// `await init({ module_or_path })`, or `initSync({ module })` with a compiled
// WebAssembly.Module (workerd: the module imported from the .wasm file).
import glueInit, * as glue from './pkg/web/fencelock_wasm.js'
import { createApi } from './lib/api.js'

let loaded = false

/**
 * Loads the WebAssembly module (once; later calls resolve at once).
 * @param {any} [input] what wasm-bindgen's init takes: `{ module_or_path }`
 */
export async function init(input) {
  if (!loaded) {
    await glueInit(input)
    loaded = true
  }
}

/**
 * Loads the WebAssembly module synchronously from a compiled module or bytes.
 * @param {{ module: WebAssembly.Module | BufferSource }} input
 */
export function initSync(input) {
  if (!loaded) {
    glue.initSync(input)
    loaded = true
  }
}

const api = createApi(/** @type {any} */ (glue), () => loaded)
export const {
  Machine, RedlockMachine, EtcdMutexMachine, EtcdElectionMachine, EtcdObserverMachine, ZooKeeperLockMachine,
  ZooKeeperElectionMachine, AdvisoryLockMachine, createMachine, machineNames,
  checkConfig, lockValueFromRandom, redlockScripts, gatewayEncode, gatewayDecode, gatewayDecodeWatchLine, FenceGuard,
  fencedUpdateSql, Redlock, Lease, RespTransport, cloudflareSockets, nodeSockets, toNodeReply, failureReply, EtcdLock,
  EtcdElection, EtcdLease, clock, FencelockError, ConfigError, UsageError, InvalidInputError, LockNotAcquiredError,
  LockLostError, InternalError,
} = api
