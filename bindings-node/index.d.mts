// Types of the ES module entry: the same API as the CommonJS entry.
export * from './index.js'
import * as fencelock from './index.js'
export default fencelock
