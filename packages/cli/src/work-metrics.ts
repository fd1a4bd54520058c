/**
 * The daemon's metrics of the work it does, beside the store's (metrics.ts):
 * gateway requests, pulls, pushes, imports and names. Each is fed by an
 * event or hook the component emits (the gateway's `onResponse`, the content
 * service's `transfer`/`pull`/`push` events, naming's `onPublish` and
 * `onResolve`), so nothing here reaches into a component.
 *
 * Labels are bounded: a route is the route's pattern, never the path; a
 * pull's source is the source's own name (a node has a handful); results and
 * statuses are small fixed sets.
 */

import { Counter, Histogram, register } from 'prom-client'
import type { RequestDone } from '@provenir/gateway'
import type { NamingPublishEvent, NamingResolveEvent } from '@provenir/naming'
import type { ContentService, PullDetail, PullResult, PushDetail, TransferDetail } from '@provenir/node'
import type { Registry } from 'prom-client'

/** Names of the work metrics */
export const WORK_METRICS = Object.freeze({
  gatewayRequests: 'provenir_gateway_requests_total',
  gatewayDuration: 'provenir_gateway_request_duration_seconds',
  pullBytes: 'provenir_pull_bytes_total',
  pulls: 'provenir_pulls_total',
  pullDuration: 'provenir_pull_duration_seconds',
  pushes: 'provenir_pushes_total',
  pushBytes: 'provenir_push_bytes_total',
  imports: 'provenir_imports_total',
  importBytes: 'provenir_import_bytes_total',
  namePublishes: 'provenir_name_publishes_total',
  nameResolutions: 'provenir_name_resolutions_total',
  nameCacheHits: 'provenir_name_cache_hits_total'
})

/**
 * Buckets of the gateway's request latency, in seconds: a manifest from the
 * store answers in milliseconds, a blob streamed from the swarm in minutes
 *
 * @default [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
 */
export const REQUEST_BUCKETS = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120])

/**
 * Buckets of a whole-image pull's duration, in seconds
 *
 * @default [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800]
 */
export const PULL_BUCKETS = Object.freeze([0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800])

/** Results a pull is counted under, exported at 0 from the start */
const PULL_RESULTS = ['ok', 'not-found', 'refused', 'aborted', 'error'] as const

/** prom-client refuses to register a name twice: several daemons in one process (tests) share each metric */
function counter (registry: Registry, name: string, help: string, labelNames: string[] = []): Counter<string> {
  const existing = registry.getSingleMetric(name)
  if (existing != null) return existing as Counter<string>
  return new Counter({ name, help, labelNames, registers: [registry] })
}

function histogram (registry: Registry, name: string, help: string, labelNames: string[], buckets: readonly number[]): Histogram<string> {
  const existing = registry.getSingleMetric(name)
  if (existing != null) return existing as Histogram<string>
  return new Histogram({ name, help, labelNames, buckets: [...buckets], registers: [registry] })
}

/** The gateway's `onResponse`: requests by method, route and status, and their latency */
export function gatewayRequestMetrics (registry: Registry = register): (info: RequestDone) => void {
  const requests = counter(registry, WORK_METRICS.gatewayRequests, 'Requests the registry gateway answered, by method, route pattern and status', ['method', 'route', 'status'])
  const duration = histogram(registry, WORK_METRICS.gatewayDuration, 'Time from a gateway request to the end of its answer, by method and route pattern', ['method', 'route'], REQUEST_BUCKETS)
  return (info) => {
    requests.inc({ method: info.method, route: info.route, status: String(info.status) })
    duration.observe({ method: info.method, route: info.route }, info.seconds)
  }
}

/**
 * The content service's pulls and pushes: bytes by the source that
 * delivered them, whole-image pulls by result with their duration, and the
 * manifests and bytes pushed. Returns the function that stops counting.
 */
export function contentMetrics (content: ContentService, registry: Registry = register): () => void {
  const pullBytes = counter(registry, WORK_METRICS.pullBytes, 'Bytes delivered to pulls and gateway reads, by the source that delivered them (local, swarm, ...)', ['source'])
  const { pulls } = pullMetrics(registry)
  const pushes = counter(registry, WORK_METRICS.pushes, 'Manifests and indexes pushed through the gateway')
  const pushBytes = counter(registry, WORK_METRICS.pushBytes, 'Bytes pushed through the gateway (blobs uploaded and manifests)', ['kind'])
  for (const result of PULL_RESULTS) pulls.inc({ result }, 0)
  for (const source of content.sources) pullBytes.inc({ source: source.name }, 0)
  for (const kind of ['blob', 'manifest']) pushBytes.inc({ kind }, 0)
  const onTransfer = (evt: Event): void => {
    const { source, bytes } = (evt as CustomEvent<TransferDetail>).detail
    pullBytes.inc({ source }, bytes)
  }
  const onPull = (evt: Event): void => {
    const { result, seconds } = (evt as CustomEvent<PullDetail>).detail
    countPull(result, seconds, registry)
  }
  const onPush = (evt: Event): void => {
    const { kind, bytes } = (evt as CustomEvent<PushDetail>).detail
    if (kind === 'manifest') pushes.inc()
    pushBytes.inc({ kind }, bytes)
  }
  content.addEventListener('transfer', onTransfer)
  content.addEventListener('pull', onPull)
  content.addEventListener('push', onPush)
  return () => {
    content.removeEventListener('transfer', onTransfer)
    content.removeEventListener('pull', onPull)
    content.removeEventListener('push', onPush)
  }
}

/** The whole-image pull counter and duration histogram */
function pullMetrics (registry: Registry): { pulls: Counter<string>, pullDuration: Histogram<string> } {
  return {
    pulls: counter(registry, WORK_METRICS.pulls, 'Whole-image pulls (provenir image pull, from the swarm or an upstream registry), by result', ['result']),
    pullDuration: histogram(registry, WORK_METRICS.pullDuration, 'Duration of whole-image pulls, by result', ['result'], PULL_BUCKETS)
  }
}

/** Counts a whole-image pull that ended with `result` after `seconds` */
export function countPull (result: PullResult, seconds: number, registry: Registry = register): void {
  const { pulls, pullDuration } = pullMetrics(registry)
  pulls.inc({ result })
  pullDuration.observe({ result }, seconds)
}

/** Counts an import (`provenir image import`): its result, and the bytes of the images it brought in */
export function countImport (result: 'ok' | 'error', bytes: number, registry: Registry = register): void {
  const { imports, importBytes } = importMetrics(registry)
  imports.inc({ result })
  importBytes.inc(bytes)
}

/** The import counters, created (at 0) on first use: the daemon calls it at its start */
export function importMetrics (registry: Registry = register): { imports: Counter<string>, importBytes: Counter<string> } {
  const fresh = registry.getSingleMetric(WORK_METRICS.imports) == null
  const imports = counter(registry, WORK_METRICS.imports, 'Image imports (provenir image import), by result', ['result'])
  const importBytes = counter(registry, WORK_METRICS.importBytes, 'Bytes of the images imports brought in (manifests, configs and layers)')
  if (fresh) for (const result of ['ok', 'error']) imports.inc({ result }, 0)
  return { imports, importBytes }
}

/** Naming's `onPublish` and `onResolve`: publishes and resolutions by result, and the resolutions the cache answered */
export function namingMetrics (registry: Registry = register): { onPublish(event: NamingPublishEvent): void, onResolve(event: NamingResolveEvent): void } {
  const publishes = counter(registry, WORK_METRICS.namePublishes, 'Name publishes, by result (dht: peers stored it; local: stored here only, for now)', ['result'])
  const resolutions = counter(registry, WORK_METRICS.nameResolutions, 'Name resolutions, by result', ['result'])
  const cacheHits = counter(registry, WORK_METRICS.nameCacheHits, 'Name resolutions the resolution cache answered')
  for (const result of ['dht', 'local', 'error']) publishes.inc({ result }, 0)
  for (const result of ['ok', 'not-found', 'error']) resolutions.inc({ result }, 0)
  cacheHits.inc(0)
  return {
    onPublish: (event) => { publishes.inc({ result: event.result }) },
    onResolve: (event) => {
      resolutions.inc({ result: event.result })
      if (event.cached) cacheHits.inc()
    }
  }
}
