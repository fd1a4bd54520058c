// Bundles the dashboard (Preact + uPlot) into dist/: index.html, app.js, app.css.
// Run by the root build (scripts/postbuild.mjs); no network, no CDN at run time.
import { build } from 'esbuild'
import fs from 'node:fs/promises'
import path from 'node:path'
import { gzipSync } from 'node:zlib'

const here = path.dirname(new URL(import.meta.url).pathname)
const out = path.join(here, 'dist')
await fs.rm(out, { recursive: true, force: true })
await fs.mkdir(out, { recursive: true })
await build({
  entryPoints: { app: path.join(here, 'src/main.jsx') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: out,
  legalComments: 'none',
  logLevel: 'warning'
})
await fs.copyFile(path.join(here, 'src/index.html'), path.join(out, 'index.html'))
let raw = 0
let gz = 0
for (const name of await fs.readdir(out)) {
  const bytes = await fs.readFile(path.join(out, name))
  raw += bytes.byteLength
  gz += gzipSync(bytes, { level: 9 }).byteLength
}
if (process.env.DASHBOARD_SIZE === '1') console.log(`dashboard bundle: ${raw} bytes, ${gz} gzipped`)
