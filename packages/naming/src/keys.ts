/**
 * Namespace keys: where the naming service finds the key that signs a
 * repository document or a claim. It asks at each publish, so a key added
 * while the service runs is found without a restart.
 */

import { Keystore } from '@provenir/identity'
import type { AbortOptions, PrivateKey } from '@libp2p/interface'

export interface NamespaceKeys {
  /** Where the keys are, for error messages (a keystore's path) */
  readonly location?: string
  /** The names of the keys held */
  list(options?: AbortOptions): Promise<string[]>
  /**
   * The key of that name
   *
   * @throws KeyNotFoundError when there is none
   */
  get(name: string, options?: AbortOptions): Promise<PrivateKey>
}

/** The keys of a provenir keystore file (`<repo>/keystore.json`), read afresh at each call */
export function keystoreKeys (file: string): NamespaceKeys {
  return {
    location: file,
    list: async () => (await Keystore.load(file)).list(),
    get: async (name) => (await Keystore.load(file)).get(name)
  }
}
