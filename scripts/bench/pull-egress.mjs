// 16 pullers fetch one 64 MiB image from one origin at the same time (in one
// process, TCP loopback). A central registry sends 16x the image; the goal is <= 2x.
import { createSwarm } from '../../packages/testbed/dist/src/index.js'
import { digestOf, makeImage, seedImage } from '../../test/dist/images.js'

const PULLERS = 16
const image = makeImage(64 * 1024 * 1024 - 100_000)
const size = image.manifest.byteLength + image.blobs.reduce((a, b) => a + b.bytes.byteLength, 0)
const swarm = await createSwarm({ size: PULLERS + 1, transport: 'tcp', difficulty: 0, topology: 'star', blockstores: true })
await swarm.waitForRoutingTables(3)
await seedImage(swarm.nodes[0], image)
const t0 = performance.now()
await Promise.all(swarm.nodes.slice(1).map(async n => n.pull(digestOf(image.manifest), { signal: AbortSignal.timeout(600_000) })))
const sec = (performance.now() - t0) / 1000
// what a node sent over both channels: bitswap and the bulk channel
const bitswapSent = n => n.libp2p.services.bitswap.ledgers().reduce((a, l) => a + l.bytesSent, 0)
const bulkSent = n => n.libp2p.services.bulk?.served().bytes ?? 0
const origin = swarm.nodes[0]
const originSent = bitswapSent(origin) + bulkSent(origin)
const originBulk = bulkSent(origin)
const peersSent = swarm.nodes.slice(1).reduce((a, n) => a + bitswapSent(n) + bulkSent(n), 0)
await swarm.stop()
console.log(`\nOrigin egress, ${PULLERS} pullers of a ${(size / 2 ** 20).toFixed(0)} MiB image at once (one process): ` +
  `origin sent ${(originSent / 2 ** 20).toFixed(0)} MiB (${(originBulk / 2 ** 20).toFixed(0)} MiB of it over the bulk channel) = ${(originSent / size).toFixed(2)}x the image (a central registry: ${PULLERS}x; goal <= 2x); ` +
  `pullers sent each other ${(peersSent / 2 ** 20).toFixed(0)} MiB; all done in ${sec.toFixed(1)} s`)
