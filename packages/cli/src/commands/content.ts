import { PROVIDERS_TIMEOUT_MS, RPC_GC_TIMEOUT_MS } from '../constants.js'
import { createOutput } from '../output.js'
import { formatBytes } from '../progress.js'
import { RpcClient } from '../rpc-client.js'
import { repoOf } from './common.js'
import type { JsonOption } from './common.js'
import type { GcResponse, ProvidersResponse } from '../content-routes.js'
import type { RepoStatResponse } from '../storage-routes.js'
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

function percent (part: number, whole: number | null): string {
  return whole == null || whole === 0 ? '' : ` (${(100 * part / whole).toFixed(1)}% of the limit)`
}

export function registerRepo (program: Command): void {
  const repo = program.command('repo').description('the daemon\'s content store')
  repo.command('stat')
    .description('what the store holds: its size and blocks, images kept (pinned) and cached (evictable), and its limits')
    .option('--json', 'print the result as JSON: {"usage","limits","pinned","cache","images":[...],"truncated","pinnedBlocks"}')
    .action(async (opts: JsonOption, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const client = await RpcClient.fromRepo(repoOf(cmd))
      const res = await client.get<RepoStatResponse>('/api/v0/repo/stat')
      if (out.json) {
        out.result(res)
        return
      }
      const { usage, limits } = res
      out.line(`Store:   ${formatBytes(usage.bytes)} in ${usage.blocks} blocks${percent(usage.bytes, limits.maxSize)}`)
      out.line(limits.maxSize == null
        ? 'Limit:   none (set "storage.maxSize" in config.json)'
        : `Limit:   ${formatBytes(limits.maxSize)}; eviction above ${formatBytes(limits.highBytes ?? 0)} (${limits.highWatermark}), down to ${formatBytes(limits.lowBytes ?? 0)} (${limits.lowWatermark})`)
      out.line(`Pinned:  ${res.pinned.images} images, ${formatBytes(res.pinned.bytes)} (${res.pinnedBlocks} blocks pinned in all)`)
      out.line(`Cache:   ${res.cache.images} images, ${formatBytes(res.cache.bytes)}`)
      for (const img of res.images) {
        const used = img.lastUsed > 0 ? new Date(img.lastUsed).toISOString() : '-'
        out.line(`  ${img.digest}  ${formatBytes(img.size).padStart(10)}  ${img.cache ? 'cache ' : 'pinned'}  ${used}  ${img.tags.join(', ')}`)
      }
      if (res.truncated) out.note('(more images are held than are listed)')
    })
}
