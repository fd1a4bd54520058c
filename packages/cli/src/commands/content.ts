import { PROVIDERS_TIMEOUT_MS, RPC_GC_TIMEOUT_MS } from '../constants.js'
import { createOutput } from '../output.js'
import { formatBytes } from '../progress.js'
import { RpcClient } from '../rpc-client.js'
import { repoOf } from './common.js'
import type { JsonOption } from './common.js'
import type { GcResponse, ProvidersResponse } from '../content-routes.js'
import type { Command } from 'commander'

export function registerProviders (program: Command): void {
  program.command('providers')
    .description('find the peers that provide an image (its manifest) in the DHT')
    .argument('<digest>', 'the image\'s manifest digest (sha256:...)')
    .option('--json', 'print the result as JSON: {"digest","cid","providers":[{"peerId","addrs"}],"complete"}')
    .action(async (digest: string, opts: JsonOption, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const client = await RpcClient.fromRepo(repoOf(cmd))
      const res = await client.get<ProvidersResponse>(`/api/v0/providers/${encodeURIComponent(digest)}`, { timeout: PROVIDERS_TIMEOUT_MS + 10_000 })
      if (out.json) {
        out.result(res)
        return
      }
      if (res.providers.length === 0) out.note(`No providers of ${digest} found`)
      for (const p of res.providers) {
        if (p.addrs.length === 0) out.line(p.peerId)
        for (const addr of p.addrs) out.line(`${p.peerId}  ${addr}`)
      }
      if (!res.complete) out.note('(the lookup stopped at its time or count limit; there may be more)')
    })
}

export function registerGc (program: Command): void {
  program.command('gc')
    .description('remove every block no image pins')
    .option('--json', 'print the result as JSON: {"removed","bytes","strays"}')
    .action(async (opts: JsonOption, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const client = await RpcClient.fromRepo(repoOf(cmd))
      const res = await client.post<GcResponse>('/api/v0/gc', { timeout: RPC_GC_TIMEOUT_MS + 5_000 })
      if (out.json) {
        out.result(res)
        return
      }
      out.line(`Removed ${res.removed} blocks (${formatBytes(res.bytes)})${res.strays > 0 ? ` and ${res.strays} stray files` : ''}`)
    })
}
