/**
 * The key a CID is advertised and looked up under in the DHT. kad-dht 16
 * sends a provider record's key as the CID's multihash and decodes it back
 * as a CID on the other side, which only a sha2-256 multihash survives (it
 * reads as a CIDv0): a peer refuses an ADD_PROVIDER or GET_PROVIDERS for a
 * sha2-512 block. So a block named by another hash (a sha512 blob's) is
 * advertised under the sha2-256 of its multihash: a key only that block
 * maps to, and that every provenir node derives alike.
 */

import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'

const SHA2_256 = 0x12

export function providerKey (cid: CID): CID {
  if (cid.multihash.code === SHA2_256) return cid
  return CID.createV1(raw.code, Digest.create(SHA2_256, createHash('sha256').update(cid.multihash.bytes).digest()))
}
