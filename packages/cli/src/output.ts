/**
 * The only place the CLI writes to the terminal. Results go to stdout (one
 * JSON document with `--json`), notes and progress to stderr.
 */
export interface Output {
  /** `--json` was given */
  readonly json: boolean
  /** A result line on stdout (text mode only) */
  line(text?: string): void
  /** A result as JSON on stdout: one line, so NDJSON streams (the daemon's events) stay parseable */
  result(value: unknown): void
  /** A note on stderr, for people; suppressed with `--json` */
  note(text: string): void
}

export function createOutput (json: boolean): Output {
  return {
    json,
    line (text = '') {
      if (!json) process.stdout.write(text + '\n')
    },
    result (value) {
      process.stdout.write(JSON.stringify(value) + '\n')
    },
    note (text) {
      if (!json) process.stderr.write(text + '\n')
    }
  }
}

/** Aligned `key: value` rows */
export function table (rows: Array<[string, string]>): string[] {
  const width = Math.max(...rows.map(([k]) => k.length)) + 1
  return rows.map(([k, v]) => `${(k + ':').padEnd(width + 1)}${v}`)
}
