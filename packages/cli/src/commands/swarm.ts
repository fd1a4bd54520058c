import fs from 'node:fs/promises'
import path from 'node:path'
import { InvalidParametersError } from '@provenir/interface'
import { BUNDLE_FILE, MAX_BUNDLE_BYTES, PLAIN_FILE_MODE, REPO_DIR_MODE, SECRET_FILE_MODE } from '../constants.js'
import { BundleInvalidError, FileExistsError } from '../errors.js'
import { errorCode, readFileBounded, writeFileAtomic } from '../fs-util.js'
import { createOutput, table } from '../output.js'
import { repoPaths } from '../repo-paths.js'
import { RpcClient } from '../rpc-client.js'
import { repoOf } from './common.js'
import type { SwarmBundle } from '../bundle.js'
import type { JsonOption } from './common.js'
import type { Command } from 'commander'

interface InitOptions extends JsonOption {
  name: string
  output?: string
  force?: boolean
}

interface JoinOptions extends JsonOption {
  force?: boolean
}

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

/** Whether a daemon answers on the repo (for a note that it must restart) */
async function daemonRunning (root: string): Promise<boolean> {
  try {
    await (await RpcClient.fromRepo(root, { timeout: 2_000 })).get('/healthz')
    return true
  } catch {
    return false
  }
}

export function registerSwarm (program: Command): void {
  const swarm = program.command('swarm').description('private swarm settings')

  swarm.command('init')
    .description('make this node the founder of a private swarm: create swarm.key (if none), serve as its default registry, and write a bundle for others to join with')
    .requiredOption('--name <name>', 'the swarm\'s name (letters, digits, . _ -, at most 64)')
    .option('-o, --output <path>', `where to write the bundle (mode 0600: it holds the swarm key); "-" for stdout (default: <repo>/${BUNDLE_FILE})`)
    .option('-f, --force', 'replace an existing bundle file')
    .option('--json', 'print the result as JSON')
    .action(async (opts: InitOptions, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
      const { generateSwarmKey } = await import('@provenir/node')
      const { BUNDLE_VERSION, dialableAddresses, parseBundle } = await import('../bundle.js')
      const { serializeConfig } = await import('../config.js')
      const { loadNodeKey, loadRepoConfig, loadSwarmKey } = await import('../repo.js')
      const root = repoOf(cmd)
      const paths = repoPaths(root)
      const config = await loadRepoConfig(root)
      const nodeId = peerIdFromPrivateKey(await loadNodeKey(root)).toString()
      const bootstrap = dialableAddresses(config.node.announce, config.node.listen, nodeId)
      if (bootstrap.length === 0) {
        throw new InvalidParametersError(`${paths.config}: no address other nodes can dial ("node.listen" ${JSON.stringify(config.node.listen)}, "node.announce" ${JSON.stringify(config.node.announce)}); set a fixed port and a reachable host with "node.announce" (or init --announce)`)
      }
      let keyBytes = await loadSwarmKey(root)
      const createdKey = keyBytes == null
      if (keyBytes == null) {
        keyBytes = generateSwarmKey()
        await writeSwarmKey(paths.swarmKey, keyBytes)
      }
      const bundle: SwarmBundle = {
        version: BUNDLE_VERSION,
        name: opts.name,
        swarmKey: new TextDecoder().decode(keyBytes),
        bootstrap,
        registries: [],
        defaultRegistry: nodeId,
        difficulty: config.node.difficulty
      }
      // the same checks a joining node makes, so a bad --name fails here
      parseBundle(JSON.stringify(bundle), '--name')
      config.naming.registry.serve = true
      config.naming.defaultRegistry = nodeId
      await writeFileAtomic(paths.config, serializeConfig(config), { mode: PLAIN_FILE_MODE })
      const text = JSON.stringify(bundle, null, 2) + '\n'
      let file: string | undefined
      if (opts.output === '-') {
        if (!out.json) process.stdout.write(text)
      } else {
        file = opts.output != null ? path.resolve(opts.output) : path.join(paths.root, BUNDLE_FILE)
        try {
          await writeFileAtomic(file, text, { mode: SECRET_FILE_MODE, exclusive: opts.force !== true })
        } catch (err) {
          if (errorCode(err) === 'EEXIST') throw new FileExistsError(`${file} already exists; pass --force to replace it`)
          if (errorCode(err) === 'ENOENT') throw new InvalidParametersError(`cannot write ${file}: ${path.dirname(file)} does not exist`)
          throw err
        }
      }
      const restart = await daemonRunning(root)
      if (out.json) {
        out.result({ name: bundle.name, nodeId, bundle: file ?? null, swarmKey: paths.swarmKey, createdSwarmKey: createdKey, bootstrap, defaultRegistry: nodeId, difficulty: bundle.difficulty, restartNeeded: restart, ...(opts.output === '-' ? { contents: bundle } : {}) })
        return
      }
      if (file == null) return
      out.line(`Swarm ${bundle.name}: this node (${nodeId}) is its default registry`)
      for (const row of table([
        ['Bundle', `${file} (mode 0600: it holds the swarm key)`],
        ['Swarm key', `${paths.swarmKey}${createdKey ? ' (new)' : ' (existing)'}`],
        ['Bootstrap', bootstrap.join(', ')],
        ['Difficulty', String(bundle.difficulty)]
      ])) out.line(`  ${row}`)
      out.note(`Other nodes join with "provenir swarm join ${path.basename(file)}".${restart ? ' Restart this daemon for the swarm key and the registry to take effect.' : ''}`)
    })

  swarm.command('join')
    .description('join a private swarm from a bundle: writes swarm.key, bootstrap, difficulty and the registries into this repo (takes effect at the next daemon start)')
    .argument('<bundle>', 'the bundle file "provenir swarm init" wrote')
    .option('-f, --force', 'replace a different swarm.key')
    .option('--json', 'print the result as JSON')
    .action(async (bundleFile: string, opts: JoinOptions, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
      const { nodeIdDifficulty } = await import('@provenir/identity')
      const { parseSwarmKey } = await import('@provenir/node')
      const { equals } = await import('uint8arrays/equals')
      const { addrNodeId, parseBundle } = await import('../bundle.js')
      const { serializeConfig } = await import('../config.js')
      const { loadNodeKey, loadRepoConfig, loadSwarmKey } = await import('../repo.js')
      const root = repoOf(cmd)
      const paths = repoPaths(root)
      const abs = path.resolve(bundleFile)
      const bytes = await readFileBounded(abs, MAX_BUNDLE_BYTES, m => new BundleInvalidError(`${abs}: ${m}`)).catch((err: unknown) => {
        if (errorCode(err) === 'ENOENT') throw new InvalidParametersError(`${abs} does not exist`)
        throw err
      })
      const bundle = parseBundle(new TextDecoder().decode(bytes), abs)
      const config = await loadRepoConfig(root)
      const key = await loadNodeKey(root)
      const nodeId = peerIdFromPrivateKey(key).toString()
      const own = nodeIdDifficulty(peerIdFromPrivateKey(key))
      if (own < bundle.difficulty) {
        throw new BundleInvalidError(`${abs}: the swarm's difficulty is ${bundle.difficulty}, but this node's key (${nodeId}) has ${own}; its peers would refuse it. Make a new identity with "provenir init --force --difficulty ${bundle.difficulty}" first`)
      }
      const swarmKey = parseSwarmKey(new TextEncoder().encode(bundle.swarmKey), `${abs}: "swarmKey"`)
      const existing = await loadSwarmKey(root)
      if (existing != null && !equals(parseSwarmKey(existing, paths.swarmKey), swarmKey) && opts.force !== true) {
        throw new FileExistsError(`${paths.swarmKey} holds another swarm's key; pass --force to replace it`)
      }
      if (existing == null || !equals(parseSwarmKey(existing, paths.swarmKey), swarmKey)) {
        await writeSwarmKey(paths.swarmKey, new TextEncoder().encode(bundle.swarmKey), true)
      }
      // a registry is named by its bootstrap address when the bundle has one, so it is dialled directly
      const specOf = (id: string): string => bundle.bootstrap.find(a => addrNodeId(a) === id) ?? id
      config.node.bootstrap = bundle.bootstrap.filter(a => addrNodeId(a) !== nodeId)
      config.node.difficulty = bundle.difficulty
      config.naming.registries = [...bundle.registries].sort((a, b) => a.priority - b.priority).map(r => specOf(r.id))
      config.naming.defaultRegistry = bundle.defaultRegistry == null ? null : specOf(bundle.defaultRegistry)
      await writeFileAtomic(paths.config, serializeConfig(config), { mode: PLAIN_FILE_MODE })
      const restart = await daemonRunning(root)
      const result = { name: bundle.name, swarmKey: paths.swarmKey, config: paths.config, bootstrap: config.node.bootstrap, registries: config.naming.registries, defaultRegistry: config.naming.defaultRegistry, difficulty: bundle.difficulty, restartNeeded: restart }
      if (out.json) {
        out.result(result)
        return
      }
      out.line(`Joined swarm ${bundle.name}`)
      for (const row of table([
        ['Swarm key', paths.swarmKey],
        ['Bootstrap', result.bootstrap.join(', ') || '(none)'],
        ['Registries', result.registries.join(', ') || '(none)'],
        ['Default registry', result.defaultRegistry ?? '(none)'],
        ['Difficulty', String(bundle.difficulty)]
      ])) out.line(`  ${row}`)
      out.note(restart ? 'Restart the daemon for the swarm settings to take effect.' : 'They take effect when the daemon starts.')
    })

  const key = swarm.command('key').description('pre-shared keys of a private swarm (Kubo swarm.key format)')
  key.command('gen')
    .description('generate a swarm.key: only peers holding the same key can connect')
    .option('-o, --output <path>', 'where to write it; "-" for stdout (default: <repo>/swarm.key)')
    .option('-f, --force', 'replace an existing file')
    .option('--json', 'print the result as JSON')
    .action(async (opts: KeyGenOptions, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const { generateSwarmKey } = await import('@provenir/node')
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
