/**
 * The size of libuv's thread pool for the CLI's process, and so the
 * daemon's: imported first by `bin.ts`, before anything could queue work on
 * the pool (libuv reads `UV_THREADPOOL_SIZE` once, when the pool starts).
 *
 * The daemon's pool runs its file reads and writes, level's reads and
 * writes, and the group commit of its block store (`FsBlockstore`), whose
 * fdatasyncs hold a thread each for the disk's time: 8 at once with this
 * pool (`syncConcurrency()` in @provenir/content), 2 with libuv's default
 * of 4, which left a pull's block files syncing ~0.35 s after its last
 * block. A size set in the environment is kept.
 */
export const DAEMON_THREADPOOL_SIZE = 12

process.env.UV_THREADPOOL_SIZE ??= String(DAEMON_THREADPOOL_SIZE)
