// The bandwidth chart (uPlot) and the store's size against its limits.
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { formatBytes } from './api.js'

/** Rates (bytes/s) between consecutive totals */
function rates (samples) {
  const t = []
  const bin = []
  const bout = []
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]
    const b = samples[i]
    const dt = Math.max((b.t - a.t) / 1000, 0.001)
    t.push(b.t / 1000)
    bin.push(Math.max(0, (b.bytesIn - a.bytesIn) / dt))
    bout.push(Math.max(0, (b.bytesOut - a.bytesOut) / dt))
  }
  return [t, bin, bout]
}

function Chart ({ samples }) {
  const el = useRef(null)
  const plot = useRef(null)
  useEffect(() => {
    plot.current = new uPlot({
      width: Math.min(900, el.current.clientWidth || 900),
      height: 260,
      series: [{}, { label: 'in', stroke: '#2a7', fill: 'rgba(34,170,119,0.1)', value: (_, v) => v == null ? '–' : `${formatBytes(v)}/s` }, { label: 'out', stroke: '#37c', value: (_, v) => v == null ? '–' : `${formatBytes(v)}/s` }],
      axes: [{}, { values: (_, vals) => vals.map(v => `${formatBytes(v)}/s`), size: 90 }]
    }, rates(samples), el.current)
    return () => plot.current.destroy()
  }, [])
  useEffect(() => { plot.current?.setData(rates(samples)) }, [samples])
  return <div ref={el} data-field='chart' />
}

export function BandwidthView ({ samples, stat }) {
  const limits = stat?.limits
  const used = stat?.usage.bytes ?? 0
  const max = limits?.maxSize
  return (
    <div data-view='bandwidth'>
      <h3>Bandwidth (blocks in and out)</h3>
      <Chart samples={samples} />
      <h3>Store</h3>
      {stat == null
        ? <p>loading…</p>
        : (
          <div data-field='store'>
            {max != null ? <div class='bar big'>
              <div class='fill' style={{ width: `${max != null ? Math.min(100, used * 100 / max) : 0}%` }} />
              {limits.highBytes != null ? <div class='mark' title='high watermark' style={{ left: `${limits.highBytes * 100 / max}%` }} /> : null}
              {limits.lowBytes != null ? <div class='mark low' title='low watermark' style={{ left: `${limits.lowBytes * 100 / max}%` }} /> : null}
            </div> : null}
            <p>{formatBytes(used)} in {stat.usage.blocks} blocks{max != null ? ` of ${formatBytes(max)} (evicts above ${formatBytes(limits.highBytes)}, down to ${formatBytes(limits.lowBytes)})` : ', no size limit (storage.maxSize)'}</p>
            <p>Pinned: {stat.pinned.images} images, {formatBytes(stat.pinned.bytes)}. Cache: {stat.cache.images} images, {formatBytes(stat.cache.bytes)}.</p>
          </div>
          )}
    </div>
  )
}
