/** 1 MiB: the default chunk size for blobs, and the largest blob stored as one raw block. */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024

/**
 * Block files `FsBlockstore` remembers as hashed (about 100 bytes each), so a
 * verified read of one unchanged since skips the hash: 32 GiB of 1 MiB blocks.
 */
export const DEFAULT_VERIFIED_FILES = 32_768

/** Blocks `FsBlockstore` makes durable in one round of its group commit. */
export const SYNC_BATCH_SIZE = 64

/**
 * fdatasyncs `FsBlockstore`'s group commit runs at once, each holding one of
 * libuv's threads for the disk's time: all but {@link SYNC_SPARE_THREADS} of
 * the pool (`UV_THREADPOOL_SIZE`, read when a store opens), between 2 and 8.
 * Each file's sync is three trips through the event loop (open, fdatasync,
 * close), so while a transfer keeps the loop busy the syncs run at the
 * loop's pace: 2 at a time fall behind a pull (~150 MB/s), 8 keep up, and
 * the pin after the pull's last block then waits ~20 ms instead of ~0.35 s
 * for 315 MB (BENCHMARKS.md, "The group commit behind the pull").
 */
export function syncConcurrency (): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE)
  const size = Number.isInteger(pool) && pool > 0 ? pool : 4
  return Math.max(2, Math.min(8, size - SYNC_SPARE_THREADS))
}

/** libuv threads the group commit leaves to the rest of the process's file and level I/O */
export const SYNC_SPARE_THREADS = 4

/**
 * Blocks written and not yet durable before `FsBlockstore.put` waits for the
 * disk: at most 256 MiB of 1 MiB blocks that a crash could make `open()` hash again.
 */
export const MAX_UNSYNCED_BLOCKS = 256

/**
 * Blocks `FsBlockstore` writes on the hash worker (`OffThreadWrites`): larger
 * than 64 KiB (a smaller one, a manifest or a DAG node, is written from the
 * event loop: a worker that is not running yet would take ~90 ms to start),
 * and at most 1 MiB, the leaves of a blob.
 */
export const OFF_THREAD_WRITE_MIN = 64 * 1024 + 1
export const OFF_THREAD_WRITE_MAX = DEFAULT_CHUNK_SIZE

/** Block writes handed to the hash worker at once, each holding a shared buffer of OFF_THREAD_WRITE_MAX bytes. */
export const OFF_THREAD_WRITE_SLOTS = 8

/** 2 MiB: the largest block a blockstore accepts. */
export const MAX_BLOCK_SIZE = 2 * 1024 * 1024

/** 4 MiB: the largest manifest, index or config accepted before parsing (the distribution spec's suggested limit). */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024

/** 64 GiB: the largest blob (layer) an import accepts, and so the largest tar entry read. */
export const MAX_BLOB_SIZE = 64 * 1024 * 1024 * 1024

/** Most entries read from a docker-archive tarball (a `docker save` of one image has a few per layer). */
export const MAX_ARCHIVE_ENTRIES = 100_000

/** Most images in one OCI layout's `index.json` or one docker-archive's `manifest.json`. */
export const MAX_IMAGES_PER_IMPORT = 1024

/** Most layers in one image (Docker itself stops at 127). */
export const MAX_IMAGE_LAYERS = 1024

/** Most tags kept on one image record. */
export const MAX_IMAGE_TAGS = 256

/** Most statement blocks (signatures, attestations) one image record carries */
export const MAX_IMAGE_STATEMENTS = 256

/** 1 MiB: the largest PAX or GNU long-name header body read from a tarball. */
export const MAX_TAR_META_SIZE = 1024 * 1024

/**
 * 30 s: how long last-use times of digests wait in memory before one level
 * batch writes them (`AccessLog`); a crash loses at most this much of the LRU
 * order, never content.
 */
export const ACCESS_FLUSH_INTERVAL = 30_000

/** Digests whose last-use time waits in memory before `AccessLog` writes them early. */
export const MAX_PENDING_ACCESSES = 4096
