import { Counter, register } from 'prom-client'
import type { Registry } from 'prom-client'

/** Name of the counter of connections the difficulty gater refused */
export const GATER_REFUSED_METRIC = 'provenir_gater_refused_total'

/**
 * The `provenir_gater_refused_total{direction}` counter in `registry`,
 * created on first use. prom-client refuses to register a name twice, so
 * several daemons in one process (tests) share it.
 */
export function gaterRefusedCounter (registry: Registry = register): Counter<'direction'> {
  const existing = registry.getSingleMetric(GATER_REFUSED_METRIC)
  if (existing != null) return existing as Counter<'direction'>
  const counter = new Counter({
    name: GATER_REFUSED_METRIC,
    help: 'Connections the difficulty gater refused because the peer\'s NodeId is below the swarm difficulty',
    labelNames: ['direction'],
    registers: [registry]
  })
  // export both series from the start, so dashboards see 0 rather than nothing
  counter.inc({ direction: 'inbound' }, 0)
  counter.inc({ direction: 'outbound' }, 0)
  return counter
}
