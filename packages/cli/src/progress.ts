import cliProgress from 'cli-progress'
import { PLAIN_PROGRESS_INTERVAL_MS } from './constants.js'
import type { IdentityProgressEvent } from '@provenir/identity'

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
          bar = new cliProgress.SingleBar({
            stream,
            format: 'Generating identity |{bar}| {attempts} attempts | {rate}/s | ETA {eta}',
            hideCursor: true,
            barsize: 24
          }, cliProgress.Presets.shades_classic)
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
