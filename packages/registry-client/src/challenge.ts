/**
 * `WWW-Authenticate` challenges (RFC 7235): `Bearer realm="...",service="...",scope="..."`
 * or `Basic realm="..."`, possibly several in one header. Written by hand
 * because the grammar is a dozen lines and the libraries for it carry a full
 * HTTP auth framework.
 */

/** One challenge: its scheme (lowercase) and its parameters (names lowercase) */
export interface Challenge {
  scheme: string
  params: Record<string, string>
}

/** Longest header parsed; a registry's challenge is a few hundred bytes */
const MAX_CHALLENGE_LENGTH = 8192

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y
const SPACE = /[ \t]*/y

/** Parses every challenge in a `WWW-Authenticate` value; malformed parts end the parse, keeping what came before */
export function parseChallenges (header: string | string[] | undefined): Challenge[] {
  if (header == null) return []
  const values = Array.isArray(header) ? header : [header]
  return values.flatMap(v => parseOne(v.slice(0, MAX_CHALLENGE_LENGTH)))
}

function parseOne (text: string): Challenge[] {
  const out: Challenge[] = []
  let i = 0
  const skip = (): void => { SPACE.lastIndex = i; SPACE.exec(text); i = SPACE.lastIndex }
  const token = (): string | undefined => {
    TOKEN.lastIndex = i
    const m = TOKEN.exec(text)
    if (m == null) return undefined
    i = TOKEN.lastIndex
    return m[0]
  }
  while (i < text.length) {
    skip()
    while (text[i] === ',') { i++; skip() }
    const scheme = token()
    if (scheme == null) break
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} }
    out.push(challenge)
    for (;;) {
      skip()
      const start = i
      const name = token()
      skip()
      if (name == null || text[i] !== '=') {
        // the next challenge's scheme, or the end
        i = start
        break
      }
      i++
      skip()
      const value = text[i] === '"' ? quoted() : token()
      if (value == null) return out
      challenge.params[name.toLowerCase()] = value
      skip()
      if (text[i] === ',') i++
    }
  }
  return out

  function quoted (): string | undefined {
    let value = ''
    for (i++; i < text.length; i++) {
      const c = text[i]
      if (c === '\\' && i + 1 < text.length) {
        value += text[++i]
      } else if (c === '"') {
        i++
        return value
      } else {
        value += c
      }
    }
    return undefined
  }
}
