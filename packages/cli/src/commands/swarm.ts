import fs from 'node:fs/promises'
import path from 'node:path'
import { InvalidParametersError } from '@provenir/interface'
import { generateSwarmKey } from '@provenir/node'
import { REPO_DIR_MODE, SECRET_FILE_MODE } from '../constants.js'
import { FileExistsError } from '../errors.js'
import { errorCode, writeFileAtomic } from '../fs-util.js'
import { createOutput } from '../output.js'
import { repoPaths } from '../repo.js'
import { repoOf } from './common.js'
import type { JsonOption } from './common.js'
import type { Command } from 'commander'

interface KeyGenOptions extends JsonOption {
  output?: string
  force?: boolean
}

/**
 * Write a new Kubo-format swarm.key to `file` with mode 0600, atomically.
 *
 * @throws FileExistsError when the file exists and `force` is not set
 */
export async function writeSwarmKey (file: string, key: Uint8Array, force = false): Promise<void> {
  try {
    await writeFileAtomic(file, key, { mode: SECRET_FILE_MODE, exclusive: !force })
  } catch (err) {
    if (errorCode(err) === 'EEXIST') throw new FileExistsError(`${file} already exists; pass --force to replace it`)
    if (errorCode(err) === 'ENOENT') throw new InvalidParametersError(`cannot write ${file}: ${path.dirname(file)} does not exist`)
    throw err
  }
}

export function registerSwarm (program: Command): void {
  const swarm = program.command('swarm').description('private swarm settings')
  const key = swarm.command('key').description('pre-shared keys of a private swarm (Kubo swarm.key format)')
  key.command('gen')
    .description('generate a swarm.key: only peers holding the same key can connect')
    .option('-o, --output <path>', 'where to write it; "-" for stdout (default: <repo>/swarm.key)')
    .option('-f, --force', 'replace an existing file')
    .option('--json', 'print the result as JSON')
    .action(async (opts: KeyGenOptions, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const swarmKey = generateSwarmKey()
      if (opts.output === '-') {
        if (out.json) out.result({ swarmKey: new TextDecoder().decode(swarmKey) })
        else process.stdout.write(swarmKey)
        return
      }
      let file: string
      if (opts.output != null) {
        file = path.resolve(opts.output)
      } else {
        const paths = repoPaths(repoOf(cmd))
        await fs.mkdir(paths.root, { recursive: true, mode: REPO_DIR_MODE })
        file = paths.swarmKey
      }
      await writeSwarmKey(file, swarmKey, opts.force === true)
      if (out.json) {
        out.result({ path: file })
        return
      }
      out.line(`Wrote a new swarm key to ${file} (mode 0600)`)
      out.note('Give the same file to every node of the swarm, in its repo; restart a running daemon for it to take effect.')
    })
}
