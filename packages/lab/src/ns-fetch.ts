/**
 * `node ns-fetch.js <url>`: prints the body of a GET, exits 1 on an error or a
 * status other than 2xx. The lab runs it inside a host's namespace (`ip netns
 * exec`), where the daemon's RPC API and the origin's registry answer: the
 * root namespace has no route into a lab.
 */
const url = process.argv[2]
if (url == null || !/^http:\/\/[^/]+\//.test(url) || url.length > 2048) {
  process.stderr.write('usage: ns-fetch <http://host:port/path>\n')
  process.exit(2)
}
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  const body = await res.text()
  process.stdout.write(body)
  if (!res.ok) {
    process.stderr.write(`GET ${url}: HTTP ${res.status}\n`)
    process.exitCode = 1
  }
} catch (err) {
  process.stderr.write(`GET ${url}: ${(err as Error).message}\n`)
  process.exitCode = 1
}
