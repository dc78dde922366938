// Every vector file under conformance/vectors, as {name, text}, sorted.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))))
export const workspace = dirname(root)
export const vectorsDir = join(workspace, 'conformance', 'vectors')

/** @param {string} dir @returns {string[]} */
function walk(dir) {
  /** @type {string[]} */
  const files = []
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) files.push(...walk(path))
    else if (name.endsWith('.json')) files.push(path)
  }
  return files
}

/** @returns {{name: string, text: string}[]} */
export function vectorFiles() {
  return walk(vectorsDir).map((path) => ({ name: relative(vectorsDir, path), text: readFileSync(path, 'utf8') }))
}
