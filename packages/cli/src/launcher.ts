import { fileURLToPath } from 'node:url'

/**
 * The launcher this CLI was installed with: `bin/provenir` of the cli package.
 * It lives in a module of dist/src, whose URL is the same whether it runs on
 * its own or bundled into dist/src/provenir.js (see build.mjs).
 */
export function launcherPath (): string {
  return fileURLToPath(new URL('../../bin/provenir', import.meta.url))
}
