import { isError } from '@provenir/interface'
import { createOutput, table } from '../output.js'
import { RpcClient } from '../rpc-client.js'
import { repoOf } from './common.js'
import type { JsonOption } from './common.js'
import type { IdResponse } from '../rpc-server.js'
import type { Command } from 'commander'

/** What `provenir id --json` prints */
export interface IdResult {
  peerId: string
  /** Leading zero bits of sha256(NodeId) */
  difficulty: number
  /** The swarm difficulty c1 */
  swarmDifficulty: number
  /** True when a daemon answered; the addresses are then its live ones */
  online: boolean
  /** The RPC API's URL, when online */
  api?: string
  /** Live addresses (with /p2p/<NodeId>) when online; the configured listen addresses when not */
  addresses: string[]
  /** The registry gateway's base URL, when online and it runs */
  gateway?: string
}

async function identify (root: string): Promise<IdResult> {
  try {
    const client = await RpcClient.fromRepo(root)
    const id = await client.get<IdResponse>('/api/v0/id')
    return { peerId: id.peerId, difficulty: id.difficulty, swarmDifficulty: id.swarmDifficulty, online: true, api: client.url, addresses: id.addresses, ...(id.gateway != null ? { gateway: id.gateway } : {}) }
  } catch (err) {
    if (!isError(err, 'DaemonNotRunningError')) throw err
  }
  // offline: the same answer from the repo's files
  const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
  const { nodeIdDifficulty } = await import('@provenir/identity')
  const { loadNodeKey, loadRepoConfig } = await import('../repo.js')
  const config = await loadRepoConfig(root)
  const peerId = peerIdFromPrivateKey(await loadNodeKey(root))
  return {
    peerId: peerId.toString(),
    difficulty: nodeIdDifficulty(peerId),
    swarmDifficulty: config.node.difficulty,
    online: false,
    addresses: config.node.listen
  }
}

export function registerId (program: Command): void {
  program.command('id')
    .description('show the NodeId, its difficulty and the listen addresses (from the daemon, or from the repo when it is not running)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: JsonOption, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const id = await identify(repoOf(cmd))
      if (out.json) {
        out.result(id)
        return
      }
      for (const row of table([
        ['NodeId', id.peerId],
        ['Difficulty', `${id.difficulty} leading zero bits (swarm requires ${id.swarmDifficulty})`],
        ['Daemon', id.online ? `running (RPC API ${id.api})` : 'not running (addresses below are the configured listen addresses)']
      ])) out.line(row)
      out.line(id.online ? 'Addresses:' : 'Listen addresses:')
      for (const addr of id.addresses) out.line(`  ${addr}`)
    })
}
