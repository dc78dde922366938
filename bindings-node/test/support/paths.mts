// Where things are, found from this file (works from test/ and from the compiled build/test/).
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'fencelock') return dir
    const parent = dirname(dir)
    if (parent === dir) throw new Error('cannot find the fencelock package root')
    dir = parent
  }
}

/** bindings-node/ */
export const packageRoot = findPackageRoot()
/** The repository root (bindings-node/..). */
export const repoRoot = dirname(packageRoot)
/** conformance/vectors, or FENCELOCK_VECTORS. */
export const vectorsDir = process.env.FENCELOCK_VECTORS ?? join(repoRoot, 'conformance', 'vectors')
/** conformance/live/servers.sh */
export const serversScript = join(repoRoot, 'conformance', 'live', 'servers.sh')
