/**
 * Reading a daemon's Prometheus text (`/metrics`): the lab keeps snapshots
 * and quotes a few values in a rollout summary.
 */

/**
 * The sum of every series of metric `name` (all label sets, or those with
 * `label` as one of their labels, as `event="block"`), or undefined when it has none
 */
export function prometheusValue (text: string, name: string, label?: string): number | undefined {
  let sum: number | undefined
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const rest = line.slice(name.length)
    if (rest[0] !== ' ' && rest[0] !== '{') continue
    if (label != null && !(rest[0] === '{' && labelsOf(rest).includes(label))) continue
    // `name{labels} value [timestamp]`: a label value may hold spaces, so skip past the braces
    const afterLabels = rest[0] === '{' ? rest.slice(rest.lastIndexOf('}') + 1) : rest
    const value = Number(afterLabels.trim().split(/\s+/)[0])
    if (Number.isFinite(value)) sum = (sum ?? 0) + value
  }
  return sum
}

/** The `key="value"` pairs of a series' labels (`{a="1",b="x, y"} 3` gives `a="1"` and `b="x, y"`) */
function labelsOf (rest: string): string[] {
  return [...rest.slice(0, rest.lastIndexOf('}') + 1).matchAll(/(\w+="(?:[^"\\]|\\.)*")/g)].map(m => m[1])
}
