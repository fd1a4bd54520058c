import { Counter, Gauge, register } from 'prom-client'
import type { EvictionDetail, GcDetail, StorageService } from '@provenir/node'
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

/** Names of the store's metrics */
export const STORE_METRICS = Object.freeze({
  size: 'provenir_store_size_bytes',
  blocks: 'provenir_store_blocks',
  maxSize: 'provenir_store_max_size_bytes',
  evictions: 'provenir_store_evictions_total',
  evictedBytes: 'provenir_store_evicted_bytes_total',
  gcRuns: 'provenir_store_gc_runs_total',
  gcBytes: 'provenir_store_gc_freed_bytes_total'
})

/** The stores whose figures the gauges read; several daemons in one process (tests) are summed */
const stores = new Set<StorageService>()

function counter (registry: Registry, name: string, help: string, labelNames: string[] = []): Counter<string> {
  const existing = registry.getSingleMetric(name)
  if (existing != null) return existing as Counter<string>
  return new Counter({ name, help, labelNames, registers: [registry] })
}

function gauge (registry: Registry, name: string, help: string, read: (s: StorageService) => number): void {
  if (registry.getSingleMetric(name) != null) return
  // eslint-disable-next-line no-new
  new Gauge({
    name,
    help,
    registers: [registry],
    collect () {
      let total = 0
      for (const s of stores) total += read(s)
      this.set(total)
    }
  })
}

/**
 * The store's metrics for `storage`: its size and blocks (read at each
 * scrape, from counts the store keeps), its limit, and counters of
 * evictions and gc runs fed by its events. Returns the function that stops
 * counting (at the daemon's stop).
 */
export function storeMetrics (storage: StorageService, registry: Registry = register): () => void {
  gauge(registry, STORE_METRICS.size, 'Bytes of blocks the content store holds', s => s.usage().bytes)
  gauge(registry, STORE_METRICS.blocks, 'Blocks the content store holds', s => s.usage().blocks)
  gauge(registry, STORE_METRICS.maxSize, 'The store\'s configured storage.maxSize in bytes (0: no limit)', s => s.limits.maxSize ?? 0)
  const evictions = counter(registry, STORE_METRICS.evictions, 'Cached images evicted because the store passed its high watermark')
  const evictedBytes = counter(registry, STORE_METRICS.evictedBytes, 'Bytes of blocks eviction deleted with the images it evicted')
  const gcRuns = counter(registry, STORE_METRICS.gcRuns, 'Garbage collections run, by reason (request: provenir gc; eviction: before evicting images)', ['reason'])
  const gcBytes = counter(registry, STORE_METRICS.gcBytes, 'Bytes garbage collection freed, by reason', ['reason'])
  for (const reason of ['request', 'eviction']) {
    gcRuns.inc({ reason }, 0)
    gcBytes.inc({ reason }, 0)
  }
  const onEvict = (evt: Event): void => {
    const { bytes } = (evt as CustomEvent<EvictionDetail>).detail
    evictions.inc()
    evictedBytes.inc(bytes)
  }
  const onGc = (evt: Event): void => {
    const { reason, bytes } = (evt as CustomEvent<GcDetail>).detail
    gcRuns.inc({ reason })
    gcBytes.inc({ reason }, bytes)
  }
  storage.addEventListener('evict', onEvict)
  storage.addEventListener('gc', onGc)
  stores.add(storage)
  return () => {
    storage.removeEventListener('evict', onEvict)
    storage.removeEventListener('gc', onGc)
    stores.delete(storage)
  }
}
