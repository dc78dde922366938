// Redlock over RESP sockets, an etcd lock over the JSON gateway, and the low
// level machine, in Node (the same code runs in a Worker with
// `cloudflareSockets(connect, ...)` and `initSync({ module })`).
import net from 'node:net'

import {
  EtcdLock,
  LockNotAcquiredError,
  nodeSockets,
  Redlock,
  RedlockMachine,
  RespTransport,
  type NodeReply,
  type SendCommand,
} from 'fencelock-wasm/node'

export async function redlockOverSockets(ports: number[]): Promise<void> {
  const transport = new RespTransport(nodeSockets(net, ports.map((port) => ({ hostname: '127.0.0.1', port }))))
  const redlock = new Redlock(transport, { ttl: 10_000 })
  try {
    await redlock.using('orders:42', async (signal, lease) => {
      if (!signal.aborted) console.log('token', lease.fencingToken)
    })
  } catch (e) {
    if (e instanceof LockNotAcquiredError) console.log('busy:', e.reason)
    else throw e
  } finally {
    transport.close()
  }
}

export async function redlockWithAnyClient(run: (node: number, command: SendCommand) => Promise<NodeReply>): Promise<void> {
  const redlock = new Redlock({ nodes: 5, send: run }, { ttl: 10_000 })
  const lease = await redlock.acquire(['a', 'b'], { timeout: 2_000 })
  await lease.release()
}

export async function etcdLock(endpoint: string): Promise<void> {
  const etcd = new EtcdLock({ endpoints: [endpoint] }, { ttlSecs: 10 })
  await using lease = await etcd.acquire('orders', { timeout: 5_000 })
  console.log(lease.key, lease.fencingToken, lease.remaining())
}

export function lowLevel(): string {
  const machine = new RedlockMachine({ nodes: 3, ttl: 10_000 }, { now: 1_000, resources: ['orders:42'], value: 'v-1' })
  const outputs = machine.drain()
  machine.handleInput({ type: 'reply', now: 1_004, req: 1, result: { type: 'int', value: 7 } })
  return `${outputs.length} commands, state ${machine.state}, next timer ${machine.pollTimeout()}`
}
