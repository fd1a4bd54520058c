/**
 * The size of libuv's thread pool for the CLI's process, and so the
 * daemon's: imported first by `bin.ts`, before anything could queue work on
 * the pool (libuv reads `UV_THREADPOOL_SIZE` once, when the pool starts).
 *
 * The daemon's pool runs its file reads and writes, level's reads and
 * writes, and the group commit of its block store (`FsBlockstore`), whose
 * fdatasyncs hold a thread each for the disk's time. The store runs all of
 * the pool but 4 threads as syncs (`syncConcurrency()` in
 * @provenir/content): 8 with this pool, enough to keep up with a pull, so
 * its pin does not wait for the disk after the last block; libuv's default
 * of 4 would give 2. A size set in the environment is kept.
 */
export const DAEMON_THREADPOOL_SIZE = 12

process.env.UV_THREADPOOL_SIZE ??= String(DAEMON_THREADPOOL_SIZE)
