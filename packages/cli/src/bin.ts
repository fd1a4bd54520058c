#!/usr/bin/env -S node --max-semi-space-size=4 --initial-old-space-size=96
// first: the thread pool's size, before anything uses the pool
import './threadpool.js'
import { run } from './program.js'

// `npm run provenir -- …` runs in the workspace root; relative paths given on
// the command line are the caller's, whose directory npm keeps in INIT_CWD
if (process.env.npm_lifecycle_event === 'provenir' && process.env.INIT_CWD != null) process.chdir(process.env.INIT_CWD)

// a reader that goes away (`provenir image ls | head -1`) ends the command
// quietly, as it ends any shell tool, instead of an unhandled EPIPE crash
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})

const code = await run(process.argv)
// let stdout and stderr drain, then exit even if a library left a timer or
// socket open (the daemon has already stopped gracefully by now)
await new Promise<void>(resolve => process.stdout.write('', () => { resolve() }))
await new Promise<void>(resolve => process.stderr.write('', () => { resolve() }))
process.exit(code)
