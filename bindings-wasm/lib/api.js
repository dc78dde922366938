// The whole API over one wasm-bindgen glue (web or nodejs target).
import * as errors from './errors.js'
import { createCore } from './core.js'
import { createEtcd } from './etcd.js'
import { clock } from './host.js'
import { createRedlock, failureReply, toNodeReply } from './redlock.js'
import { cloudflareSockets, createResp, nodeSockets } from './resp.js'

/**
 * @param {import('./core.js').Glue} glue
 * @param {() => boolean} loaded
 */
export function createApi(glue, loaded) {
  const core = createCore(glue, loaded)
  const { Redlock, Lease } = createRedlock(core)
  const { RespTransport } = createResp(core)
  const { EtcdLock, EtcdElection, EtcdLease } = createEtcd(core)
  return {
    ...core.api,
    Redlock,
    Lease,
    RespTransport,
    cloudflareSockets,
    nodeSockets,
    toNodeReply,
    failureReply,
    EtcdLock,
    EtcdElection,
    EtcdLease,
    clock,
    ...errors,
  }
}
