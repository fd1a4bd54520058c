import path from 'node:path'
import { InvalidParametersError } from '@provenir/interface'
import { MAX_BINDING_BYTES, verifyBinding } from '@provenir/naming'
import { readFileBounded } from '../fs-util.js'
import { createOutput, table } from '../output.js'
import type { JsonOption } from './common.js'
import type { Command } from 'commander'

interface VerifyOptions extends JsonOption {
  registry: string
  name?: string
}

/**
 * `name verify`: validate a registry's binding (name -> UserId) offline,
 * given only the binding and the registry's NodeId: the seed proposal's
 * "detached validation". No daemon and no network are involved.
 */
export function registerName (program: Command): void {
  const name = program.command('name').description('link names and repository documents')
  name.command('verify')
    .description('validate a registry binding offline against the registry\'s NodeId')
    .argument('<binding>', 'the binding file (the DSSE envelope JSON a registry issued)')
    .requiredOption('--registry <NodeId>', 'the NodeId of the registry that must have signed it')
    .option('--name <name>', 'require the binding to be for this link name')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, opts: VerifyOptions) => {
      const out = createOutput(opts.json === true)
      const abs = path.resolve(file)
      const bytes = await readFileBounded(abs, MAX_BINDING_BYTES, m => new InvalidParametersError(`${abs}: ${m}`))
      const binding = await verifyBinding(bytes, opts.registry, opts.name != null ? { name: opts.name } : {})
      if (out.json) {
        out.result({ valid: true, ...binding })
        return
      }
      out.line(`${abs}: a valid binding signed by registry ${binding.registry}`)
      for (const row of table([['Name', binding.name], ['UserId', binding.userId], ['Seq', String(binding.seq)], ['Issued', binding.issued]])) out.line(`  ${row}`)
    })
}
