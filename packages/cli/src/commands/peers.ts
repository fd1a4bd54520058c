import { createOutput } from '../output.js'
import { RpcClient } from '../rpc-client.js'
import { repoOf } from './common.js'
import type { JsonOption } from './common.js'
import type { PeerStoreResponse, PeersResponse } from '../rpc-server.js'
import type { Command } from 'commander'

interface PeersOptions extends JsonOption {
  known?: boolean
}

export function registerPeers (program: Command): void {
  program.command('peers')
    .description('list the peers the daemon is connected to, with their addresses')
    .option('--known', 'list every peer in the peer store instead, connected or not')
    .option('--json', 'print the result as JSON: {"peers":[{"peerId","addrs"}]}')
    .action(async (opts: PeersOptions, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const client = await RpcClient.fromRepo(repoOf(cmd))
      const res = opts.known === true
        ? await client.get<PeerStoreResponse>('/api/v0/peerstore')
        : await client.get<PeersResponse>('/api/v0/peers')
      if (out.json) {
        out.result(res)
        return
      }
      if (res.peers.length === 0) out.note(opts.known === true ? 'The peer store is empty' : 'No connected peers')
      for (const peer of res.peers) {
        if (peer.addrs.length === 0) out.line(peer.peerId)
        for (const addr of peer.addrs) out.line(`${peer.peerId}  ${addr}`)
      }
      if ('truncated' in res && res.truncated) out.note('(more peers are known than are listed)')
    })
}
