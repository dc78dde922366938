// An etcd lock and election, compatible with Go's `concurrency` package (and
// `etcdctl lock`): over gRPC with the etcd3 client, or over the JSON gateway
// with nothing but fetch. Keep-alives run by themselves while the lock is held.
import { Etcd3 } from 'etcd3'

import { EtcdElection, EtcdLock, LockNotAcquiredError } from 'fencelock'

const client = new Etcd3({ hosts: 'http://127.0.0.1:2379' })
const viaGrpc = new EtcdLock(client, { ttlSecs: 10 })
const viaFetch = new EtcdLock({ endpoints: ['http://127.0.0.1:2379'] }, { ttlSecs: 10, wait: 'poll', pollInterval: 250 })

try {
  await using lease = await viaGrpc.acquire('orders', { timeout: 5_000 })
  console.log(`holding ${lease.key} (lease ${lease.leaseId}), token ${lease.fencingToken}`)
  // The same name from another transport (or a Go program) waits for us.
  await viaFetch.acquire('orders', { tryLock: true }).catch((e) => console.log('other transport:', e.reason))
} catch (e) {
  if (e instanceof LockNotAcquiredError) console.log(`not acquired: ${e.reason}`)
  else throw e
}

const election = new EtcdElection(client)
const leadership = await election.campaign('scheduler', 'instance-1')
await leadership.proclaim('instance-1 (busy)')
console.log('leader:', await election.leader('scheduler'))
const changes = election.observe('scheduler', { signal: AbortSignal.timeout(1_000) })
for await (const leader of changes) console.log('observed', leader?.value ?? 'no leader')
await leadership.resign()
client.close()
