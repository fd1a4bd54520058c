import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { identify } from '@libp2p/identify'
import { kadDHT } from '@libp2p/kad-dht'
import { defaultLogger } from '@libp2p/logger'
import { memory } from '@libp2p/memory'
import { preSharedKey } from '@libp2p/pnet'
import { ping } from '@libp2p/ping'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { tcp } from '@libp2p/tcp'
import { difficultyGater } from '@provenir/identity'
import { InvalidConfigError } from '@provenir/interface'
import { LevelDatastore } from 'datastore-level'
import { createLibp2p } from 'libp2p'
import { validateConfig } from './config.js'
import { DEFAULT_CONNECTION_PING_INTERVAL, DEFAULT_DIAL_TIMEOUT, DHT_PROTOCOL } from './constants.js'
import { createPeerInfoMapper } from './address-filter.js'
import { parseSwarmKey } from './swarm-key.js'
import type { NodeConfig } from './config.js'
import type { CreateNodeInit, ProvenirNode, ProvenirServices } from './index.js'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { KadDHT, SingleKadDHT } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { DifficultyGater } from '@provenir/identity'
import type { Datastore } from 'interface-datastore'

class Node implements ProvenirNode {
  readonly libp2p: Libp2p<ProvenirServices>
  readonly config: NodeConfig
  readonly gater: DifficultyGater
  private readonly datastore?: LevelDatastore

  constructor (libp2p: Libp2p<ProvenirServices>, config: NodeConfig, gater: DifficultyGater, datastore?: LevelDatastore) {
    this.libp2p = libp2p
    this.config = config
    this.gater = gater
    this.datastore = datastore
  }

  get peerId (): PeerId {
    return this.libp2p.peerId
  }

  get dht (): KadDHT {
    return this.libp2p.services.dht
  }

  routingTableSize (): number {
    return (this.libp2p.services.dht as SingleKadDHT).routingTable?.size ?? 0
  }

  getMultiaddrs (): Multiaddr[] {
    return this.libp2p.getMultiaddrs()
  }

  isStarted (): boolean {
    return this.libp2p.status === 'started'
  }

  async start (): Promise<void> {
    await this.libp2p.start()
  }

  async stop (): Promise<void> {
    await this.libp2p.stop()
    await this.datastore?.close()
  }
}

export async function createNode (init: CreateNodeInit): Promise<ProvenirNode> {
  if (init.privateKey == null) throw new InvalidConfigError('createNode: privateKey is required')
  const config = validateConfig(init.config ?? {}, init.configSource ?? 'config')
  const logger = init.logger ?? defaultLogger()

  const gater = difficultyGater({
    difficulty: config.difficulty,
    logger,
    onRefuse: init.onRefuse
  })

  let datastore: LevelDatastore | undefined
  if (init.datastorePath != null) {
    datastore = new LevelDatastore(init.datastorePath)
    await datastore.open()
  }

  const transports: any[] = []
  if (config.transports.includes('tcp')) transports.push(tcp())
  if (config.transports.includes('memory')) transports.push(memory())

  const peerInfoMapper = createPeerInfoMapper({
    allowPrivateAddresses: config.allowPrivateAddresses,
    difficulty: config.difficulty
  })

  const peerDiscovery: any[] = []
  if (config.bootstrap.length > 0) {
    peerDiscovery.push(bootstrap({ list: config.bootstrap, timeout: 100 }))
  }

  try {
    const libp2p = await createLibp2p<ProvenirServices>({
      privateKey: init.privateKey,
      start: false,
      logger,
      datastore: datastore as Datastore | undefined,
      addresses: {
        listen: config.listen,
        announce: config.announce
      },
      transports,
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionProtector: init.swarmKey != null ? preSharedKey({ psk: parseSwarmKey(init.swarmKey) }) : undefined,
      connectionGater: gater,
      connectionManager: {
        maxConnections: config.maxConnections,
        dialTimeout: DEFAULT_DIAL_TIMEOUT,
        // loopback and LAN peers are trusted for the connection-rate limits
        // when the operator allowed them: a test bed opens many at once
        allow: config.allowPrivateAddresses ? ['/ip4/127.0.0.1', '/ip6/::1'] : [],
        ...init.connectionManager
      },
      connectionMonitor: init.connectionMonitor ?? { pingInterval: DEFAULT_CONNECTION_PING_INTERVAL },
      peerDiscovery,
      metrics: init.metrics === true ? prometheusMetrics({ preserveExistingMetrics: true }) : undefined,
      services: {
        identify: identify(),
        ping: ping(),
        dht: kadDHT({
          protocol: DHT_PROTOCOL,
          clientMode: config.dht.clientMode,
          kBucketSize: config.dht.kBucketSize,
          alpha: config.dht.alpha,
          disjointPaths: config.dht.disjointPaths,
          querySelfInterval: config.dht.querySelfInterval,
          peerInfoMapper,
          logPrefix: 'provenir:dht',
          datastorePrefix: '/provenir-dht',
          metricsPrefix: 'provenir_dht',
          ...init.dht
        })
      }
    })
    const node = new Node(libp2p, config, gater, datastore)
    if (init.start !== false) {
      await node.start()
    }
    return node
  } catch (err) {
    await datastore?.close().catch(() => {})
    throw err
  }
}
