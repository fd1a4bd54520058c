import { Level } from 'level'

/** A level database whose keys and values are bytes. @internal */
export type BytesLevel = Level<Uint8Array, Uint8Array>

/** Opens (lazily) a level database at `location` with byte keys and values. @internal */
export function bytesLevel (location: string): BytesLevel {
  return new Level<Uint8Array, Uint8Array>(location, { keyEncoding: 'view', valueEncoding: 'view' })
}

/** A byte-keyed, byte-valued sublevel of `db`. @internal */
export function bytesSublevel (db: BytesLevel, name: string) {
  return db.sublevel<Uint8Array, Uint8Array>(name, { keyEncoding: 'view', valueEncoding: 'view' })
}

/** @internal */
export type BytesSublevel = ReturnType<typeof bytesSublevel>
