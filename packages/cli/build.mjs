// Bundles the CLI into dist/src/provenir.js, which bin/provenir runs: bin.js and
// every module of the CLI it imports statically, with commander, in one file,
// and what a command imports dynamically (the daemon, `init`, the key store) in
// chunks beside it, loaded when needed: Node's ES module loader costs ~1 ms for
// each file it resolves, reads and links before a command can do anything
// (BENCHMARKS.md, "the CLI as a bundle").
//
// Run by the root build (scripts/postbuild.mjs) and by scripts/run-tests.mjs,
// so the bundle is never older than the files tsc built.
import { build } from 'esbuild'
import fs from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const dir = path.join(here, 'dist', 'src')
export const BUNDLE = path.join(dir, 'provenir.js')

/** The files a build writes: the entry and the chunks esbuild splits off */
const OURS = /^provenir(-chunk-[A-Z0-9]+)?\.js$/

/**
 * Only the CLI's own modules (and commander) are bundled; every other package
 * stays a package, loaded from node_modules, so that no module runs twice in
 * one process (a class bundled and also loaded by a package would fail
 * `instanceof`). What the CLI imports dynamically becomes a chunk loaded when
 * it is needed. Chunks sit beside bin.js, so a module bundled from dist/src
 * keeps its `import.meta.url`; one bundled from elsewhere must not use
 * `import.meta`: the build fails naming it.
 */
const plugin = {
  name: 'provenir-cli',
  setup (b) {
    b.onResolve({ filter: /^[^./]/ }, args => {
      if (args.path === 'commander') return undefined
      return { path: args.path, external: true }
    })
    b.onLoad({ filter: /\.m?js$/ }, async args => {
      const text = await fs.readFile(args.path, 'utf8')
      if (path.dirname(args.path) !== dir && /\bimport\.meta\b/.test(text.replace(/\/\/.*$/gm, ''))) {
        return { errors: [{ text: `${path.relative(here, args.path)} uses import.meta, which bundled would be that of a file in dist/src; move that use to a module in dist/src` }] }
      }
      return undefined
    })
  }
}

export async function bundleCli () {
  const result = await build({
    entryPoints: { provenir: path.join(dir, 'bin.js') },
    outdir: dir,
    chunkNames: 'provenir-chunk-[hash]',
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    // commander is CommonJS: its require() of node's modules needs a require
    banner: { js: "import { createRequire as __provenirRequire } from 'node:module'; const require = __provenirRequire(import.meta.url);" },
    plugins: [plugin],
    legalComments: 'none',
    logLevel: 'warning',
    write: false
  })
  // each file whole or not at all (a CLI may be starting from them meanwhile),
  // then the chunks of an earlier build go: their names change with their contents
  const written = new Set()
  for (const file of result.outputFiles) {
    const tmp = `${file.path}.${process.pid}.tmp`
    await fs.writeFile(tmp, file.contents, { mode: file.path === BUNDLE ? 0o755 : 0o644 })
    await fs.rename(tmp, file.path)
    written.add(path.basename(file.path))
  }
  for (const name of await fs.readdir(dir)) {
    if (OURS.test(name) && !written.has(name)) await fs.rm(path.join(dir, name), { force: true })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundleCli()
