import path from 'node:path'
import { InvalidParametersError, KeyNotFoundError } from '@provenir/interface'
import { SELF_KEY_NAME } from '../constants.js'
import { FileExistsError } from '../errors.js'
import { readFileBounded } from '../fs-util.js'
import { createOutput, table } from '../output.js'
import { repoPaths } from '../repo-paths.js'
import { repoOf } from './common.js'
import type { JsonOption } from './common.js'
import type { Command } from 'commander'

interface PemOption extends JsonOption {
  pem?: boolean
}

/**
 * Namespace keys: `key gen|ls|export`. A namespace key signs images and
 * repository documents; its UserId (the key's PeerId as CIDv1 libp2p-key in
 * base36) is the namespace and the DSSE keyid. Keys live in the repo's
 * keystore (mode 0600) beside the node key `self`, which these commands never
 * replace.
 */
export function registerKeys (program: Command): void {
  const key = program.command('key').description('namespace keys: they own namespaces and sign images')

  key.command('gen')
    .description('generate an Ed25519 namespace key and store it in the keystore')
    .argument('<name>', 'a name for the key ([a-zA-Z0-9._-], at most 64 characters)')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: JsonOption, cmd: Command) => {
      const out = createOutput(opts.json === true)
      if (name === SELF_KEY_NAME) throw new InvalidParametersError(`"${SELF_KEY_NAME}" is the node key; choose another name`)
      const { generateKeyPair } = await import('@libp2p/crypto/keys')
      const { Keystore } = await import('@provenir/identity')
      const { userIdFromKey } = await import('@provenir/trust')
      const keystore = await Keystore.load(repoPaths(repoOf(cmd)).keystore)
      if (keystore.has(name)) throw new FileExistsError(`the keystore ${keystore.path} already holds a key named "${name}"`)
      const privateKey = await generateKeyPair('Ed25519')
      await keystore.set(name, privateKey)
      const userId = userIdFromKey(privateKey)
      if (out.json) {
        out.result({ name, userId, keystore: keystore.path })
        return
      }
      for (const row of table([['Key', name], ['UserId', userId], ['Keystore', keystore.path]])) out.line(row)
    })

  key.command('ls')
    .description('list the keys in the keystore with their UserIds')
    .option('--json', 'print the result as JSON')
    .action(async (opts: JsonOption, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const { Keystore } = await import('@provenir/identity')
      const { userIdFromKey } = await import('@provenir/trust')
      const keystore = await Keystore.load(repoPaths(repoOf(cmd)).keystore)
      const keys = keystore.list().map(name => ({ name, userId: userIdFromKey(keystore.get(name)), node: name === SELF_KEY_NAME }))
      if (out.json) {
        out.result({ keys })
        return
      }
      for (const k of keys) out.line(`${k.name.padEnd(16)} ${k.userId}${k.node ? '  (node key)' : ''}`)
    })

  key.command('export')
    .description('print a key\'s public half: its UserId, or PEM (SPKI) with --pem for cosign and sigstore-js')
    .argument('<name>', 'the key\'s name')
    .option('--pem', 'print the public key as PEM')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: PemOption, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const { Keystore } = await import('@provenir/identity')
      const { publicKeyToPem, userIdFromKey } = await import('@provenir/trust')
      const keystore = await Keystore.load(repoPaths(repoOf(cmd)).keystore)
      if (!keystore.has(name)) throw new KeyNotFoundError(`the keystore ${keystore.path} holds no key named "${name}" (see provenir key ls)`)
      const privateKey = keystore.get(name)
      const userId = userIdFromKey(privateKey)
      const pem = publicKeyToPem(privateKey)
      if (out.json) {
        out.result({ name, userId, pem })
        return
      }
      if (opts.pem === true) process.stdout.write(pem)
      else out.line(userId)
    })
}

/** `policy check <file>`: validate a trust policy and summarise its rules */
export function registerPolicy (program: Command): void {
  const policy = program.command('policy').description('trust policies (policy.json)')
  policy.command('check')
    .description('validate a policy file; errors name the bad field')
    .argument('<file>', 'the policy file')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, opts: JsonOption) => {
      const out = createOutput(opts.json === true)
      const { MAX_POLICY_BYTES, parsePolicy } = await import('@provenir/trust')
      const abs = path.resolve(file)
      const bytes = await readFileBounded(abs, MAX_POLICY_BYTES, m => new InvalidParametersError(`${abs}: ${m}`))
      const parsed = parsePolicy(bytes, { source: abs })
      const rules = parsed.rules.map(r => ({
        match: Array.isArray(r.match) ? r.match : [r.match],
        mode: r.mode ?? 'enforce',
        manifestSigners: r.manifest?.signers.length ?? 0,
        layerEntries: r.layers?.length ?? 0,
        attestations: r.attestations?.length ?? 0
      }))
      if (out.json) {
        out.result({ file: abs, valid: true, default: parsed.default ?? 'enforce', rules })
        return
      }
      out.line(`${abs}: valid, ${rules.length} rule(s); unmatched repositories: ${parsed.default ?? 'enforce'}`)
      for (const [i, r] of rules.entries()) {
        out.line(`  rules[${i}] ${r.match.join(', ')}: ${r.mode}; manifest signers ${r.manifestSigners}, layer entries ${r.layerEntries}, attestations ${r.attestations}`)
      }
    })
}
