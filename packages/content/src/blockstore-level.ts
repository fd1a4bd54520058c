import { InvalidConfigError } from '@provenir/interface'
import { BaseContentBlockstore } from './blockstore.js'
import { bytesLevel, bytesSublevel } from './level.js'
import type { BlockstoreInit } from './blockstore.js'
import type { BytesSublevel } from './level.js'

export interface LevelBlockstoreInit extends BlockstoreInit {
  /** Directory of the level database that holds blocks, index and pins */
  path: string
}

/**
 * Blocks stored as values in `level`, beside their index entry and the pins.
 * A block and its index entry are written in one batch, so a crash leaves
 * both or neither.
 */
export class LevelBlockstore extends BaseContentBlockstore {
  readonly #data: BytesSublevel

  constructor (init: LevelBlockstoreInit) {
    if (typeof init.path !== 'string' || init.path.length === 0) {
      throw new InvalidConfigError('LevelBlockstore needs a path')
    }
    const db = bytesLevel(init.path)
    super(db, init)
    this.#data = bytesSublevel(db, 'data')
    this.sublevels.push(this.#data)
  }

  protected async writeBlock (key: Uint8Array, info: Uint8Array, bytes: Uint8Array): Promise<void> {
    await this.db.batch([
      { type: 'put', sublevel: this.#data, key, value: bytes },
      { type: 'put', sublevel: this.index, key, value: info }
    ], { sync: this.sync })
  }

  protected async readBlock (key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.#data.get(key)
  }

  protected async deleteBlock (key: Uint8Array): Promise<void> {
    await this.db.batch([
      { type: 'del', sublevel: this.index, key },
      { type: 'del', sublevel: this.#data, key }
    ], { sync: this.sync })
  }
}
