'use strict'
// fencelock for Node.js (CommonJS entry). See README.md.

const errors = require('./lib/errors.js')
const machine = require('./lib/machine.js')
const redlock = require('./lib/redlock.js')
const fence = require('./lib/fence.js')

module.exports = {
  // High level
  Redlock: redlock.Redlock,
  Lease: redlock.Lease,
  FenceGuard: fence.FenceGuard,
  RedisFence: fence.RedisFence,
  SqlFence: fence.SqlFence,
  fencedUpdateSql: fence.fencedUpdateSql,
  // Errors
  FencelockError: errors.FencelockError,
  ConfigError: errors.ConfigError,
  UsageError: errors.UsageError,
  InvalidInputError: errors.InvalidInputError,
  LockNotAcquiredError: errors.LockNotAcquiredError,
  LockLostError: errors.LockLostError,
  InternalError: errors.InternalError,
  // Low level: the core's machines with the vectors' JSON vocabulary
  Machine: machine.Machine,
  RedlockMachine: machine.RedlockMachine,
  createMachine: machine.createMachine,
  machineNames: machine.machineNames,
  checkConfig: machine.checkConfig,
  lockValueFromRandom: machine.lockValueFromRandom,
  redlockScripts: machine.redlockScripts,
  clock: redlock.clock,
}
