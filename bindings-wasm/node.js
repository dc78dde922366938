// fencelock-wasm for Node (the `--target nodejs` build, loaded synchronously).
// `init()` / `initSync()` exist for parity with the web build and do nothing.
import { createRequire } from 'node:module'
import { createApi } from './lib/api.js'

const glue = createRequire(import.meta.url)('./pkg/nodejs/fencelock_wasm.js')

/** The module is loaded on import in Node. */
export async function init() {}
/** The module is loaded on import in Node. */
export function initSync() {}

const api = createApi(glue, () => true)
export const {
  Machine, RedlockMachine, EtcdMutexMachine, EtcdElectionMachine, EtcdObserverMachine, ZooKeeperLockMachine,
  ZooKeeperElectionMachine, AdvisoryLockMachine, createMachine, machineNames,
  checkConfig, lockValueFromRandom, redlockScripts, gatewayEncode, gatewayDecode, gatewayDecodeWatchLine, FenceGuard,
  fencedUpdateSql, Redlock, Lease, RespTransport, cloudflareSockets, nodeSockets, toNodeReply, failureReply, EtcdLock,
  EtcdElection, EtcdLease, clock, FencelockError, ConfigError, UsageError, InvalidInputError, LockNotAcquiredError,
  LockLostError, InternalError,
} = api
