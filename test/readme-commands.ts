/**
 * Extracts the shell commands a README shows, mechanically, so that
 * test/readme.slow.spec.ts runs exactly what a reader would type.
 *
 * The convention (also stated at the top of README.md):
 * - every fenced block whose info string is `sh`, `bash`, `shell` or
 *   `console` holds commands; other blocks (json, toml, ts, none) are not run;
 * - each line of such a block is one command, except that a line ending in
 *   `\` continues on the next, and a here-document (`<<EOF` ... `EOF`)
 *   continues to its terminator; blank lines and lines that are only a
 *   comment are not commands;
 * - a block right after `<!-- readme-test: skip REASON -->` (blank lines may
 *   come between) is not run; REASON is required and says why;
 * - a command that starts a daemon (`provenir ... daemon`, `npm start`) runs
 *   in the background, and the test waits until it serves `/healthz`.
 */

/** One command of a README, where it is and whether it runs */
export interface ReadmeCommand {
  /** the README it came from (as given to extractCommands) */
  file: string
  /** 1-based line of the command's first line */
  line: number
  /** the command text as shown, continuation lines and here-documents included */
  text: string
  /** why it is not run, from the block's marker; undefined: it runs */
  skip?: string
}

/** The info strings of fenced blocks that hold shell commands */
export const SHELL_LANGUAGES = new Set(['sh', 'bash', 'shell', 'console'])

const SKIP_MARKER = /^<!--\s*readme-test:\s*skip\b\s*(.*?)\s*-->\s*$/
const ANY_MARKER = /<!--\s*readme-test:/
const FENCE = /^(\s*)(```+|~~~+)\s*([\w-]*)/
const HEREDOC = /<<-?\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\1/

/** Thrown for a README that breaks the convention (a marker without a reason, an unclosed block) */
export class ReadmeConventionError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ReadmeConventionError'
  }
}

/** Every shell command of `markdown`, in order, with the skip reason of its block */
export function extractCommands (file: string, markdown: string): ReadmeCommand[] {
  const lines = markdown.split('\n')
  const out: ReadmeCommand[] = []
  let pendingSkip: string | undefined
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    const marker = SKIP_MARKER.exec(line.trim())
    if (marker != null) {
      if (marker[1] === '') throw new ReadmeConventionError(`${file}:${i + 1}: a readme-test skip marker needs a reason`)
      pendingSkip = marker[1]
      continue
    }
    if (ANY_MARKER.test(line)) throw new ReadmeConventionError(`${file}:${i + 1}: unknown readme-test marker (only "<!-- readme-test: skip REASON -->" exists)`)
    const fence = FENCE.exec(line)
    if (fence == null) {
      if (line.trim() !== '') pendingSkip = undefined
      continue
    }
    const end = findFenceEnd(lines, i, fence[2], file)
    if (SHELL_LANGUAGES.has(fence[3])) {
      for (const cmd of blockCommands(file, lines, i + 1, end)) out.push({ ...cmd, skip: pendingSkip })
    }
    pendingSkip = undefined
    i = end
  }
  return out
}

function findFenceEnd (lines: string[], start: number, fence: string, file: string): number {
  for (let j = start + 1; j < lines.length; j++) {
    if (lines[j].trim().startsWith(fence) && lines[j].trim().replace(/[`~]/g, '') === '') return j
  }
  throw new ReadmeConventionError(`${file}:${start + 1}: code block is never closed`)
}

/** The commands of lines [from, to) of one block */
function blockCommands (file: string, lines: string[], from: number, to: number): Array<Omit<ReadmeCommand, 'skip'>> {
  const out: Array<Omit<ReadmeCommand, 'skip'>> = []
  for (let i = from; i < to; i++) {
    const first = lines[i]
    if (first.trim() === '' || first.trim().startsWith('#')) continue
    const start = i
    const parts = [first]
    // a trailing backslash continues the command (comment-only lines in between are dropped)
    while (/\\\s*$/.test(parts[parts.length - 1]) && i + 1 < to) {
      i++
      if (lines[i].trim().startsWith('#')) continue
      parts.push(lines[i])
    }
    const heredoc = HEREDOC.exec(parts.join('\n'))
    if (heredoc != null) {
      let closed = false
      while (i + 1 < to) {
        i++
        parts.push(lines[i])
        if (lines[i].trim() === heredoc[2]) { closed = true; break }
      }
      if (!closed) throw new ReadmeConventionError(`${file}:${start + 1}: here-document ${heredoc[2]} is never closed`)
    }
    out.push({ file, line: start + 1, text: parts.join('\n') })
  }
  return out
}

/**
 * Whether a command starts a long-running daemon: `provenir [global options] daemon ...`
 * (after any environment assignments) or `npm start`.
 */
export function isDaemonCommand (text: string): boolean {
  const words = text.replace(/#.*$/s, '').trim().split(/\s+/).filter(w => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w))
  if (words[0] === 'npm' && words[1] === 'start') return true
  if (words[0] !== 'provenir') return false
  let i = 1
  while (i < words.length && words[i].startsWith('-')) i += words[i] === '--repo' ? 2 : 1
  return words[i] === 'daemon'
}

/** The repo a daemon command uses: its `--repo`, else undefined (PROVENIR_PATH or ~/.provenir) */
export function daemonRepoArg (text: string): string | undefined {
  return /(?:^|\s)--repo[ =](\S+)/.exec(text)?.[1]
}
