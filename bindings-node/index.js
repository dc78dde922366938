'use strict'
// fencelock for Node.js (CommonJS entry). See README.md.

const errors = require('./lib/errors.js')
const machine = require('./lib/machine.js')
const redlock = require('./lib/redlock.js')
const fence = require('./lib/fence.js')
const etcd = require('./lib/etcd.js')
const zookeeper = require('./lib/zookeeper.js')
const advisory = require('./lib/advisory.js')

module.exports = {
  // High level
  Redlock: redlock.Redlock,
  Lease: redlock.Lease,
  EtcdLock: etcd.EtcdLock,
  EtcdElection: etcd.EtcdElection,
  EtcdLease: etcd.EtcdLease,
  ZooKeeperLock: zookeeper.ZooKeeperLock,
  ZooKeeperElection: zookeeper.ZooKeeperElection,
  ZooKeeperLease: zookeeper.ZooKeeperLease,
  AdvisoryLock: advisory.AdvisoryLock,
  AdvisoryLease: advisory.AdvisoryLease,
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
  SessionNotPinnedError: errors.SessionNotPinnedError,
  WireError: errors.WireError,
  InternalError: errors.InternalError,
  // Low level: the core's machines with the vectors' JSON vocabulary
  Machine: machine.Machine,
  RedlockMachine: machine.RedlockMachine,
  EtcdMutexMachine: machine.EtcdMutexMachine,
  EtcdElectionMachine: machine.EtcdElectionMachine,
  EtcdObserverMachine: machine.EtcdObserverMachine,
  ZooKeeperLockMachine: machine.ZooKeeperLockMachine,
  ZooKeeperElectionMachine: machine.ZooKeeperElectionMachine,
  AdvisoryLockMachine: machine.AdvisoryLockMachine,
  gatewayEncode: machine.gatewayEncode,
  gatewayDecode: machine.gatewayDecode,
  gatewayDecodeWatchLine: machine.gatewayDecodeWatchLine,
  createMachine: machine.createMachine,
  machineNames: machine.machineNames,
  checkConfig: machine.checkConfig,
  lockValueFromRandom: machine.lockValueFromRandom,
  redlockScripts: machine.redlockScripts,
  clock: redlock.clock,
}
