import { createRequire } from 'node:module'
import type cliProgress from 'cli-progress'
import { PLAIN_PROGRESS_INTERVAL_MS } from './constants.js'
import type { IdentityProgressEvent } from '@provenir/identity'

/**
 * cli-progress, loaded when a bar is first drawn: only a terminal gets one,
 * and every other run of the CLI (scripts, --json, the daemon) skips its
 * ~6 ms of loading.
 */
const load = createRequire(import.meta.url)
function bars (): typeof cliProgress {
  return load('cli-progress') as typeof cliProgress
}

/** Shows the identity search's `identity:progress` events */
export interface IdentityProgressReporter {
  /** Pass as `onProgress` to `generateIdentity` / `initRepo` */
  onProgress(evt: IdentityProgressEvent): void
  /** Finish the display (erases nothing: the last state stays on screen) */
  stop(): void
}

export interface IdentityProgressInit {
  /** @default process.stderr */
  stream?: NodeJS.WriteStream
  /** Show nothing at all (e.g. `--json`) */
  quiet?: boolean
}

/** `90s` -> `1m 30s`; a search without a rate yet has no ETA */
export function formatDuration (seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?'
  const s = Math.round(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
}

function formatCount (n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

/**
 * A progress display for identity generation. On a TTY it draws a
 * cli-progress bar (attempts against the 2^c1 expected, rate, ETA); on
 * anything else it writes a plain line every few seconds, and nothing at
 * all for a search that ends quickly.
 */
export function identityProgress (init: IdentityProgressInit = {}): IdentityProgressReporter {
  const stream = init.stream ?? process.stderr
  if (init.quiet === true) {
    return { onProgress: () => {}, stop: () => {} }
  }

  if (stream.isTTY === true) {
    let bar: cliProgress.SingleBar | undefined
    return {
      onProgress (evt) {
        const { attempts, rate, expected, etaSeconds } = evt.detail
        const payload = { attempts: formatCount(attempts), rate: formatCount(rate), eta: formatDuration(etaSeconds) }
        if (bar == null) {
          const { SingleBar, Presets } = bars()
          bar = new SingleBar({
            stream,
            format: 'Generating identity |{bar}| {attempts} attempts | {rate}/s | ETA {eta}',
            hideCursor: true,
            barsize: 24
          }, Presets.shades_classic)
          bar.start(expected, 0, payload)
        }
        // the search is memoryless: it may need more than the expected count
        if (attempts > bar.getTotal()) bar.setTotal(attempts)
        bar.update(etaSeconds === 0 ? bar.getTotal() : attempts, payload)
      },
      stop () {
        bar?.stop()
        bar = undefined
      }
    }
  }

  let last = Date.now()
  return {
    onProgress (evt) {
      const { attempts, rate, etaSeconds } = evt.detail
      const now = Date.now()
      if (etaSeconds === 0 || now - last < PLAIN_PROGRESS_INTERVAL_MS) return
      last = now
      stream.write(`Generating identity: ${formatCount(attempts)} attempts, ${formatCount(rate)}/s, ETA ${formatDuration(etaSeconds)}\n`)
    },
    stop () {}
  }
}

/** `1536` -> `1.5 KiB` */
export function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`
}

/** Shows bytes done against a total that may become known later (a pull learns it from the manifest) */
export interface BytesProgressReporter {
  update(bytes: number, total?: number): void
  /** Finish the display (the last state stays on screen) */
  stop(): void
}

export interface BytesProgressInit extends IdentityProgressInit {
  /** What is being done: "Pulling", "Importing", "Exporting" */
  label: string
}

/**
 * A progress display for work measured in bytes. On a TTY it draws a
 * cli-progress bar (done / total, rate); elsewhere it writes a plain line
 * every few seconds.
 */
export function bytesProgress (init: BytesProgressInit): BytesProgressReporter {
  const stream = init.stream ?? process.stderr
  if (init.quiet === true) return { update: () => {}, stop: () => {} }
  const started = Date.now()
  const payload = (bytes: number, total: number | undefined): Record<string, string> => {
    const seconds = (Date.now() - started) / 1000
    return {
      sofar: formatBytes(bytes),
      whole: total != null ? formatBytes(total) : '?',
      speed: seconds > 0 ? `${formatBytes(bytes / seconds)}/s` : '?'
    }
  }

  if (stream.isTTY === true) {
    let bar: cliProgress.SingleBar | undefined
    return {
      update (bytes, total) {
        if (bar == null) {
          const { SingleBar, Presets } = bars()
          bar = new SingleBar({
            stream,
            format: `${init.label} |{bar}| {sofar} / {whole} | {speed}`,
            hideCursor: true,
            barsize: 24
          }, Presets.shades_classic)
          bar.start(total ?? Math.max(bytes, 1), bytes, payload(bytes, total))
        }
        const t = total ?? Math.max(bytes, 1)
        if (t !== bar.getTotal()) bar.setTotal(t)
        bar.update(bytes, payload(bytes, total))
      },
      stop () {
        bar?.stop()
        bar = undefined
      }
    }
  }

  let last = Date.now()
  return {
    update (bytes, total) {
      const now = Date.now()
      if (now - last < PLAIN_PROGRESS_INTERVAL_MS) return
      last = now
      const p = payload(bytes, total)
      stream.write(`${init.label}: ${p.sofar} / ${p.whole}, ${p.speed}\n`)
    },
    stop () {}
  }
}
