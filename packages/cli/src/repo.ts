import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateIdentity, Keystore, nodeIdDifficulty } from '@provenir/identity'
import { AbortError, InvalidParametersError, RepoExistsError, RepoNotFoundError } from '@provenir/interface'
import { DEFAULT_CONFIG, parseSwarmKey } from '@provenir/node'
import { createRepoConfig, loadConfig, serializeConfig } from './config.js'
import { CONFIG_FILE, KEYSTORE_FILE, PLAIN_FILE_MODE, REPO_DIR_MODE, SELF_KEY_NAME } from './constants.js'
import { namePath } from './errors.js'
import { errorCode, exists, fsyncDir, readFileBounded, writeFileAtomic } from './fs-util.js'
import { repoPaths } from './repo-paths.js'
import { ensureRepoTls } from './tls.js'
import { parseApiAddress } from './api-address.js'
import type { RepoConfig, RepoConfigInit } from './config.js'
import type { RepoPaths } from './repo-paths.js'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { IdentityProgressEvent } from '@provenir/identity'

/**
 * True when `root` holds a repo, or part of one: a config.json or a
 * keystore.json. Either is enough for `init` to refuse, so a key is never
 * overwritten by accident.
 */
export async function isRepoInitialised (root: string): Promise<boolean> {
  const paths = repoPaths(root)
  return await exists(paths.config) || await exists(paths.keystore)
}

export interface InitRepoOptions {
  /**
   * The swarm difficulty c1: written to config.json's `node.difficulty`, and
   * the NodeId is generated to meet it.
   *
   * @default DEFAULT_CONFIG.difficulty from @provenir/node
   */
  difficulty?: number
  /** Settings to write instead of the defaults */
  config?: RepoConfigInit
  /**
   * Replace an existing repo's config.json and keystore.json. The old keystore
   * is kept beside the new one as `keystore.json.<time>.bak`; the datastore and
   * swarm.key are left as they are.
   *
   * @default false
   */
  force?: boolean
  /** Cancels the identity search; nothing is written then */
  signal?: AbortSignal
  /** Progress of the identity search */
  onProgress?(evt: IdentityProgressEvent): void
  /** Worker threads for the identity search (default: one per core) */
  workers?: number
}

export interface InitRepoResult {
  paths: RepoPaths
  config: RepoConfig
  peerId: PeerId
  /** Leading zero bits of sha256(NodeId): at least `config.node.difficulty` */
  difficulty: number
  /** True when an existing repo was replaced (`force`) */
  replaced: boolean
  /** Where the replaced keystore was moved, if there was one */
  keystoreBackup?: string
  /** The repo's CA certificate, which clients of the TLS servers trust (`provenir tls ca`) */
  tlsCa: string
}

/** The hosts the daemon's servers listen on, for the server certificate to name */
export function listenHosts (config: RepoConfig): string[] {
  const hosts = [parseApiAddress(config.api).host]
  if (config.gateway.listen != null) hosts.push(parseApiAddress(config.gateway.listen, 'config', 'gateway.listen').host)
  return hosts
}

function repoExistsError (paths: RepoPaths): RepoExistsError {
  return new RepoExistsError(`${paths.root}: a provenir repo already exists here (${CONFIG_FILE} or ${KEYSTORE_FILE} is present); use --force to replace it`)
}

/**
 * Create a repo: generate the node's identity, then write config.json and
 * keystore.json.
 *
 * Nothing is written until the identity exists, so a cancelled or failed
 * search leaves the disk as it was. The files are first written into a
 * staging directory, then moved into place by rename: when the repo
 * directory is absent or empty the whole staged directory is renamed onto it
 * in one step; otherwise keystore.json is moved first and config.json, which
 * marks a repo as complete, last.
 *
 * @throws RepoExistsError when a repo is there and `force` is not set
 * @throws InvalidConfigError when `config` holds a bad value
 * @throws AbortError when `signal` aborts
 */
export async function initRepo (root: string, options: InitRepoOptions = {}): Promise<InitRepoResult> {
  const paths = repoPaths(root)
  const difficulty = options.difficulty ?? options.config?.node?.difficulty ?? DEFAULT_CONFIG.difficulty
  if (!Number.isInteger(difficulty) || difficulty < 0 || difficulty > 64) {
    throw new InvalidParametersError(`difficulty must be an integer from 0 to 64, got ${String(difficulty)}`)
  }
  const config = createRepoConfig({ ...options.config, node: { ...options.config?.node, difficulty } }, 'init settings')
  const force = options.force === true

  if (!force && await isRepoInitialised(root)) throw repoExistsError(paths)

  const generateOptions: Parameters<typeof generateIdentity>[0] = { difficulty, signal: options.signal, onProgress: options.onProgress }
  if (options.workers != null) generateOptions.workers = options.workers
  const privateKey = await generateIdentity(generateOptions)
  if (options.signal?.aborted === true) throw new AbortError('init was cancelled', { cause: options.signal.reason })
  const peerId = peerIdFromPrivateKey(privateKey)

  const replaced = await isRepoInitialised(root)
  if (replaced && !force) throw repoExistsError(paths)

  const parent = path.dirname(paths.root)
  await fs.mkdir(parent, { recursive: true })
  const empty = await isEmptyOrAbsent(paths.root)
  const staging = empty
    ? path.join(parent, `.${path.basename(paths.root)}.init-${randomBytes(6).toString('hex')}`)
    : path.join(paths.root, `.init-${randomBytes(6).toString('hex')}`)

  let keystoreBackup: string | undefined
  try {
    await fs.mkdir(staging, { mode: REPO_DIR_MODE })
    const staged = repoPaths(staging)
    await Keystore.create(staged.keystore, { [SELF_KEY_NAME]: privateKey })
    await writeFileAtomic(staged.config, serializeConfig(config), { mode: PLAIN_FILE_MODE })

    if (empty) {
      try {
        // rename(2) replaces an empty directory in one step
        await fs.rename(staging, paths.root)
      } catch (err) {
        const code = errorCode(err)
        if (code === 'ENOTEMPTY' || code === 'EEXIST') throw repoExistsError(paths)
        throw err
      }
      await fsyncDir(parent)
    } else {
      if (!force && await isRepoInitialised(root)) throw repoExistsError(paths)
      if (await exists(paths.keystore)) {
        keystoreBackup = `${paths.keystore}.${new Date().toISOString().replace(/[:.]/g, '-')}.bak`
        await fs.rename(paths.keystore, keystoreBackup)
      }
      await fs.rename(staged.keystore, paths.keystore)
      await fs.rename(staged.config, paths.config)
      await fs.rmdir(staging)
      await fsyncDir(paths.root)
    }
  } catch (err) {
    // put the old keystore back if the new one did not make it into place
    if (keystoreBackup != null && !await exists(paths.keystore).catch(() => true)) {
      await fs.rename(keystoreBackup, paths.keystore).catch(() => {})
    }
    await fs.rm(staging, { recursive: true, force: true }).catch(() => {})
    throw err
  }

  // a CA made once per repo (kept by --force): clients that trust it go on trusting a replaced identity's servers
  const tls = await ensureRepoTls(paths.root, { hosts: listenHosts(config) })
  const result: InitRepoResult = { paths, config, peerId, difficulty: nodeIdDifficulty(peerId), replaced, tlsCa: tls.paths.caCert }
  if (keystoreBackup != null) result.keystoreBackup = keystoreBackup
  return result
}

async function isEmptyOrAbsent (dir: string): Promise<boolean> {
  try {
    return (await fs.readdir(dir)).length === 0
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return true
    if (errorCode(err) === 'ENOTDIR') throw new InvalidParametersError(`${dir}: not a directory`)
    throw err
  }
}

/**
 * Read and validate `<repo>/config.json`.
 *
 * @throws RepoNotFoundError when there is no config.json
 * @throws InvalidConfigError naming the file and the field
 */
export async function loadRepoConfig (root: string): Promise<RepoConfig> {
  const paths = repoPaths(root)
  try {
    return await loadConfig(paths.config)
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') throw err
    if (await exists(paths.keystore)) {
      throw new RepoNotFoundError(`${paths.config} is missing, but ${paths.keystore} exists: the repo is incomplete (an interrupted init?)`)
    }
    throw new RepoNotFoundError(`no provenir repo at ${paths.root} (${CONFIG_FILE} not found); run "provenir init" first`)
  }
}

/**
 * The node's private key: `self` in `<repo>/keystore.json`. The file is only
 * read, never changed.
 *
 * @throws KeystoreCorruptError, KeystorePermissionError or KeyNotFoundError naming the file
 */
export async function loadNodeKey (root: string): Promise<PrivateKey> {
  const paths = repoPaths(root)
  try {
    const keystore = await Keystore.load(paths.keystore)
    return keystore.get(SELF_KEY_NAME)
  } catch (err) {
    if (err instanceof Error) throw namePath(err, paths.keystore)
    throw err
  }
}

/**
 * `<repo>/swarm.key`, checked, or undefined when the repo has none.
 *
 * @throws InvalidSwarmKeyError naming the file
 */
export async function loadSwarmKey (root: string): Promise<Uint8Array | undefined> {
  const file = repoPaths(root).swarmKey
  let bytes: Buffer
  try {
    bytes = await readFileBounded(file, 4096)
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined
    throw err
  }
  return parseSwarmKey(bytes, file)
}

/** An opened repo: what the daemon needs to start a node */
export interface Repo {
  paths: RepoPaths
  config: RepoConfig
  privateKey: PrivateKey
  peerId: PeerId
  /** The swarm.key contents when the repo has one */
  swarmKey?: Uint8Array
}

/**
 * Load a repo's config, node key and swarm key, validating each. Reads only:
 * nothing on disk changes, whatever fails.
 */
export async function openRepo (root: string): Promise<Repo> {
  const paths = repoPaths(root)
  const config = await loadRepoConfig(root)
  const privateKey = await loadNodeKey(root)
  const swarmKey = await loadSwarmKey(root)
  const repo: Repo = { paths, config, privateKey, peerId: peerIdFromPrivateKey(privateKey) }
  if (swarmKey != null) repo.swarmKey = swarmKey
  return repo
}
