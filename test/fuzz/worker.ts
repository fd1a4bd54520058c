/**
 * Runs fuzz inputs in a worker thread, so the harness can stop (terminate)
 * a parser that hangs. For each input: prepare it (not timed), then parse
 * it and measure the parsing thread's CPU time; a slow parse is tried again
 * (up to `repeat` times) and the fastest kept, so a GC pause or a JIT warm-up
 * is not taken for a slow parser.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { loadTargets } from './targets.js'
import type { WorkerRequest, WorkerResult } from './harness.js'

const port = parentPort
if (port == null) throw new Error('worker.ts runs as a worker thread')
const targets = new Map((await loadTargets({ scratch: (workerData as { scratch: string }).scratch })).map(t => [t.name, t]))

function cpuMs (since: NodeJS.CpuUsage): number {
  const used = process.threadCpuUsage(since)
  return (used.user + used.system) / 1000
}

port.on('message', (request: WorkerRequest) => {
  void handle(request).then(result => { port.postMessage(result) })
})

async function handle ({ id, target: name, recipe, repeat, slowMs }: WorkerRequest): Promise<WorkerResult> {
  const target = targets.get(name)
  if (target == null) return { id, prepareError: `no target ${name}` }
  let input: unknown
  try {
    input = await target.prepare(recipe)
  } catch (err) {
    return { id, prepareError: String((err as Error)?.stack ?? err) }
  }
  const size = sizeOf(input)
  let best: WorkerResult | undefined
  for (let i = 0; i < repeat; i++) {
    const wall = performance.now()
    const cpu = process.threadCpuUsage()
    let outcome: Pick<WorkerResult, 'errorName' | 'errorMessage' | 'errorIsError'> = {}
    try {
      await target.parse(input)
    } catch (err) {
      outcome = { errorName: (err as Error)?.name, errorMessage: String((err as Error)?.message ?? err).slice(0, 500), errorIsError: err instanceof Error }
    }
    const result: WorkerResult = { id, ...outcome, cpuMs: cpuMs(cpu), wallMs: performance.now() - wall, ...(size != null ? { size } : {}) }
    if (best == null || (result.cpuMs ?? 0) < (best.cpuMs ?? 0)) best = result
    if ((best.cpuMs ?? 0) <= slowMs) break
  }
  return best ?? { id, prepareError: 'no run' }
}

/** Characters or bytes of the input, or of its text and byte fields (a DHT key and value) */
function sizeOf (input: unknown): number | undefined {
  if (typeof input === 'string') return input.length
  if (input instanceof Uint8Array) return input.byteLength
  if (input == null || typeof input !== 'object') return undefined
  let n = 0
  for (const v of Object.values(input)) n += typeof v === 'string' ? v.length : v instanceof Uint8Array ? v.byteLength : 0
  return n > 0 ? n : undefined
}

port.postMessage({ ready: true })
