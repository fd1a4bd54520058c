// tsc does not set the execute bit on the CLIs' entry points; npm's bin links need it
import fs from 'node:fs'
fs.chmodSync(new URL('../packages/cli/dist/src/bin.js', import.meta.url), 0o755)
fs.chmodSync(new URL('../packages/lab/dist/src/bin.js', import.meta.url), 0o755)

// the CLI's bundle (dist/src/provenir.js and its chunks), which bin/provenir runs
await (await import('../packages/cli/build.mjs')).bundleCli()

// the dashboard's static files, which the daemon serves at / (Preact + uPlot, bundled by esbuild)
await import('../packages/dashboard/build.mjs')
