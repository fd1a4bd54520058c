/**
 * Reading a daemon's Prometheus text (`/metrics`): the lab keeps snapshots
 * and quotes a few values in a rollout summary.
 */

/** The sum of every series of metric `name` (all label sets), or undefined when it has none */
export function prometheusValue (text: string, name: string): number | undefined {
  let sum: number | undefined
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const rest = line.slice(name.length)
    if (rest[0] !== ' ' && rest[0] !== '{') continue
    // `name{labels} value [timestamp]`: a label value may hold spaces, so skip past the braces
    const afterLabels = rest[0] === '{' ? rest.slice(rest.lastIndexOf('}') + 1) : rest
    const value = Number(afterLabels.trim().split(/\s+/)[0])
    if (Number.isFinite(value)) sum = (sum ?? 0) + value
  }
  return sum
}
