// fencelock for Node.js (ES module entry): the CommonJS implementation, re-exported,
// so both entry points share one set of classes (instanceof works across them).
import fencelock from './index.js'

export const {
  Redlock,
  Lease,
  FenceGuard,
  RedisFence,
  SqlFence,
  fencedUpdateSql,
  FencelockError,
  ConfigError,
  UsageError,
  InvalidInputError,
  LockNotAcquiredError,
  LockLostError,
  InternalError,
  Machine,
  RedlockMachine,
  createMachine,
  machineNames,
  checkConfig,
  lockValueFromRandom,
  redlockScripts,
  clock,
} = fencelock

export default fencelock
