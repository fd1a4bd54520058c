/**
 * Bindings in the DHT. A registry publishes each binding under
 * `/provenir-name/<NodeId>/<name>` (kad-dht validator {@link nameValidator},
 * selector {@link nameSelector}), so that a name resolves while the registry
 * is offline. The client below reads them: it is a RegistryClient whose
 * answers are the best valid binding found, verified against the NodeId.
 */

import { equals } from 'uint8arrays/equals'
import { nameKey, nameValidator, peekBinding, registryKeyId } from './binding.js'
import { DHT_GET_TIMEOUT } from './constants.js'
import type { RegistryClient } from './resolver.js'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'

/** A RegistryClient reading a registry's bindings from the DHT */
export class DhtRegistryClient implements RegistryClient {
  readonly id: string
  private readonly dht: Pick<KadDHT, 'get'>
  private readonly timeout: number

  constructor (dht: Pick<KadDHT, 'get'>, registryNodeId: string | PeerId, init: { timeout?: number } = {}) {
    this.dht = dht
    this.id = registryKeyId(registryNodeId).nodeId
    this.timeout = init.timeout ?? DHT_GET_TIMEOUT
  }

  async lookup (name: string, options: AbortOptions = {}): Promise<Uint8Array | undefined> {
    const key = nameKey(this.id, name)
    const signal = AbortSignal.any([AbortSignal.timeout(this.timeout), ...(options.signal != null ? [options.signal] : [])])
    const found: Uint8Array[] = []
    const add = (value: Uint8Array): void => {
      if (found.length < 64 && !found.some(f => equals(f, value))) found.push(value)
    }
    try {
      for await (const event of this.dht.get(key, { signal })) {
        if (event.name === 'VALUE') add(event.value)
        else if (event.name === 'PEER_RESPONSE' && event.record != null) add(event.record.value)
      }
    } catch (err: unknown) {
      if (found.length === 0 && (err as Error).name !== 'NotFoundError') throw err
    }
    let best: Uint8Array | undefined
    let bestSeq = -1
    for (const value of found) {
      try {
        await nameValidator(key, value)
      } catch {
        continue
      }
      const seq = peekBinding(value)?.seq ?? -1
      if (seq > bestSeq) {
        best = value
        bestSeq = seq
      }
    }
    return best
  }
}
