/**
 * A malicious peer for the end-to-end tests: a real provenir node (so it
 * passes the daemons' difficulty gater and speaks their DHT) whose bitswap
 * handlers are replaced by ones a test controls. It can send any bytes on a
 * bitswap stream, answer every want with garbage, and counts every want it
 * receives, per connection, so a test can say what a daemon asked it after
 * catching it lying.
 */
import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import { BITSWAP_120, Message, PROVENIR_BITSWAP_120, cidToPrefix, encodeVarint, LengthPrefixedDecoder } from '@provenir/bitswap'
import { createNode } from '@provenir/node'
import { makeIdentities } from '@provenir/testbed'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { ProvenirNode } from '@provenir/node'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface RoguePeerInit {
  /** Difficulty of the peer's NodeId (the daemons' is 4 in tests) */
  difficulty?: number
  /** Answer every want (have or block) with a block of garbage under the wanted CID's prefix */
  lie?: boolean
  /** Multiaddrs to bootstrap the DHT from */
  bootstrap?: string[]
}

export class RoguePeer {
  readonly node: ProvenirNode
  /** Wantlist entries (not cancels) received, by connection id */
  readonly wantsByConnection = new Map<string, number>()
  /** Ids of connections on which this peer sent a bad block, and when each closed (0 while open) */
  readonly lyingConnections = new Map<string, number>()
  /** When each connection this peer saw opened (ms) */
  readonly openedAt = new Map<string, number>()
  /** Messages received (decoded), newest last */
  readonly received: Message[] = []
  badBlocksSent = 0
  private readonly lie: boolean

  private constructor (node: ProvenirNode, lie: boolean) {
    this.node = node
    this.lie = lie
  }

  static async create (init: RoguePeerInit = {}): Promise<RoguePeer> {
    const [privateKey] = await makeIdentities(1, init.difficulty ?? 4)
    const node = await createNode({
      privateKey,
      config: { difficulty: 4, listen: ['/ip4/127.0.0.1/tcp/0'], allowPrivateAddresses: true, bootstrap: init.bootstrap ?? [] },
      connectionMonitor: { enabled: false }
    })
    const peer = new RoguePeer(node, init.lie === true)
    for (const protocol of [PROVENIR_BITSWAP_120, BITSWAP_120]) {
      await node.libp2p.unhandle(protocol)
      await node.libp2p.handle(protocol, (stream, connection) => { peer.onStream(stream, connection) }, { maxInboundStreams: 256 })
    }
    node.libp2p.addEventListener('connection:open', (evt) => { peer.openedAt.set(evt.detail.id, Date.now()) })
    node.libp2p.addEventListener('connection:close', (evt) => {
      if (peer.lyingConnections.has(evt.detail.id)) peer.lyingConnections.set(evt.detail.id, Date.now())
    })
    return peer
  }

  get peerId (): PeerId {
    return this.node.peerId
  }

  /** Wants received in all */
  get wants (): number {
    let n = 0
    for (const w of this.wantsByConnection.values()) n += w
    return n
  }

  /**
   * Wants received on connections opened after the first connection this
   * peer lied on had closed: what a daemon asked it after banning it
   */
  get wantsAfterBan (): number {
    const closed = [...this.lyingConnections.values()].filter(t => t > 0)
    if (closed.length === 0) return 0
    const bannedAt = Math.min(...closed)
    let n = 0
    for (const [id, wants] of this.wantsByConnection) {
      if ((this.openedAt.get(id) ?? 0) > bannedAt) n += wants
    }
    return n
  }

  private onStream (stream: Stream, connection: Connection): void {
    const decoder = new LengthPrefixedDecoder(64 * 1024 * 1024)
    stream.addEventListener('message', (evt) => {
      let frames: Uint8Array[]
      try {
        frames = decoder.push(evt.data)
      } catch {
        stream.abort(new Error('garbage'))
        return
      }
      for (const frame of frames) {
        const message = Message.decode(frame)
        this.received.push(message)
        const entries = (message.wantlist?.entries ?? []).filter(e => !e.cancel)
        if (entries.length === 0) continue
        this.wantsByConnection.set(connection.id, (this.wantsByConnection.get(connection.id) ?? 0) + entries.length)
        if (this.lie) this.answerWithGarbage(connection, entries.map(e => CID.decode(e.block)))
      }
    })
  }

  private answerWithGarbage (connection: Connection, cids: CID[]): void {
    const payload = cids.map(cid => ({ prefix: new Uint8Array(cidToPrefix(cid)), data: new Uint8Array(createHash('sha256').update(cid.bytes).update('garbage').digest()) }))
    this.lyingConnections.set(connection.id, this.lyingConnections.get(connection.id) ?? 0)
    this.badBlocksSent += payload.length
    this.sendOn(connection, Message.encode({ payload })).catch(() => {})
  }

  private async sendOn (connection: Connection, body: Uint8Array): Promise<void> {
    const stream = await connection.newStream([PROVENIR_BITSWAP_120, BITSWAP_120], { signal: AbortSignal.timeout(10_000) })
    await writeAll(stream, [encodeVarint(body.byteLength), body])
    await stream.close({ signal: AbortSignal.timeout(10_000) }).catch(() => {})
  }

  async dial (addr: string | Multiaddr): Promise<Connection> {
    return this.node.libp2p.dial(typeof addr === 'string' ? (await import('@multiformats/multiaddr')).multiaddr(addr) : addr, { signal: AbortSignal.timeout(20_000) })
  }

  /** A new bitswap stream to `peer` */
  async openStream (peer: PeerId, protocol = PROVENIR_BITSWAP_120): Promise<Stream> {
    return this.node.libp2p.dialProtocol(peer, protocol, { signal: AbortSignal.timeout(20_000) })
  }

  /** One length-prefixed message on a new stream */
  async send (peer: PeerId, message: Partial<Message>): Promise<Stream> {
    const stream = await this.openStream(peer)
    const body = Message.encode(message)
    await writeAll(stream, [encodeVarint(body.byteLength), body])
    return stream
  }

  async stop (): Promise<void> {
    await this.node.stop()
  }
}

/** Writes each chunk, waiting for the stream to drain when it asks */
export async function writeAll (stream: Stream, chunks: Uint8Array[]): Promise<void> {
  for (const chunk of chunks) {
    if (!stream.send(chunk)) await stream.onDrain({ signal: AbortSignal.timeout(30_000) })
  }
}

/** A want-block entry */
export function wantBlock (cid: CID, init: Partial<Message.Wantlist.Entry> = {}): Message.Wantlist.Entry {
  return { block: cid.bytes, priority: 1, cancel: false, wantType: Message.Wantlist.WantType.Block, sendDontHave: false, ...init }
}

/** The CIDs of a blob's raw leaves as provenir stores it: sha2-256 of each 1 MiB chunk */
export async function leafCids (file: string, count = Infinity): Promise<CID[]> {
  const fh = await open(file)
  const out: CID[] = []
  try {
    const buf = Buffer.alloc(1024 * 1024)
    for (let pos = 0; out.length < count; pos += buf.byteLength) {
      const { bytesRead } = await fh.read(buf, 0, buf.byteLength, pos)
      if (bytesRead === 0) break
      out.push(CID.createV1(raw.code, createDigest(0x12, createHash('sha256').update(buf.subarray(0, bytesRead)).digest())))
    }
  } finally {
    await fh.close()
  }
  return out
}
