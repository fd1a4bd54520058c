/** 1 MiB: the default chunk size for blobs, and the largest blob stored as one raw block. */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024

/** 2 MiB: the largest block a blockstore accepts. */
export const MAX_BLOCK_SIZE = 2 * 1024 * 1024

/** 4 MiB: the largest manifest, index or config accepted before parsing (the distribution spec's suggested limit). */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024
