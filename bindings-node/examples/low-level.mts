// The core's Redlock machine, driven by hand with the conformance vocabulary:
// what the high-level Redlock class does for you with real clients.
import { RedlockMachine, type RedlockInput } from 'fencelock'

const machine = new RedlockMachine(
  { nodes: 3, ttl: 10_000, rng_seed: 7 },
  { now: 1_000, resources: ['orders:42'], value: 'v-1', timeout: null }
)
for (const output of machine.drain()) {
  if ('command' in output) console.log('run on node', output.command.node, output.command.script, output.command.keys)
}
// Two of three masters grant with fencing counter 7: the quorum.
for (const req of [1, 2]) {
  const reply: RedlockInput = { type: 'reply', now: 1_004, req, result: { type: 'int', value: 7 } }
  for (const output of machine.step(reply)) {
    if ('event' in output) console.log('event', output.event.type)
  }
}
console.log(machine.state, machine.lease?.fencing_token, 'next timer at', machine.pollTimeout())
