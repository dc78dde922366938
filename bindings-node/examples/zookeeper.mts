// A ZooKeeper lock (the ephemeral-sequential recipe) in a node-zookeeper-client
// session: the token is the node's czxid (a BigInt), the lease's signal aborts
// if the session is lost, `await using` deletes the node.
import zookeeper from 'node-zookeeper-client'

import { LockNotAcquiredError, ZooKeeperLock } from 'fencelock'

const client = zookeeper.createClient('127.0.0.1:2181', { sessionTimeout: 10_000 })
client.connect()
const lock = new ZooKeeperLock(client)

try {
  await using lease = await lock.acquire('/locks/orders', { timeout: 5_000 })
  console.log(`holding ${lease.node}, token ${lease.fencingToken}, ${lease.remaining()} ms of validity`)
  lease.signal.throwIfAborted()
} catch (e) {
  if (e instanceof LockNotAcquiredError) console.log(`not acquired: ${e.reason}`)
  else throw e
} finally {
  client.close()
}
