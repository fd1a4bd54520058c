// The dashboard: one page, five views, fed by the daemon's RPC routes and its event stream.
import { render } from 'preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { api } from './api.js'
import { BandwidthView } from './bandwidth.jsx'
import { ImagesView } from './images.jsx'
import { NodeView, PeersView, TransfersView } from './views.jsx'
import './style.css'

const VIEWS = [['node', 'Node'], ['peers', 'Peers'], ['images', 'Images'], ['transfers', 'Transfers'], ['bandwidth', 'Bandwidth & store']]
/** How often the tables are read again, in ms (transfers and bandwidth come with the event stream) */
const REFRESH_MS = 2_000
/** Images whose providers and trust the page looks up */
const MAX_IMAGES_CHECKED = 50
/** Bandwidth samples the chart keeps */
const MAX_SAMPLES = 300

function useHash () {
  const read = () => VIEWS.some(([id]) => `#${id}` === location.hash) ? location.hash.slice(1) : 'node'
  const [view, setView] = useState(read)
  useEffect(() => {
    const on = () => setView(read())
    addEventListener('hashchange', on)
    return () => removeEventListener('hashchange', on)
  }, [])
  return view
}

function useEvents () {
  const [samples, setSamples] = useState([])
  const [transfers, setTransfers] = useState(null)
  const [live, setLive] = useState(false)
  useEffect(() => {
    const source = new EventSource('/api/v0/events')
    source.addEventListener('open', () => setLive(true))
    source.addEventListener('error', () => setLive(false))
    source.addEventListener('history', (e) => setSamples(JSON.parse(e.data).samples))
    source.addEventListener('tick', (e) => {
      const tick = JSON.parse(e.data)
      setTransfers(tick.transfers)
      setSamples(s => [...s, tick.sample].slice(-MAX_SAMPLES))
    })
    return () => source.close()
  }, [])
  return { samples, transfers, live }
}

/** Providers and the trust chain of each image, looked up once per digest (and again after an action) */
function useImageChecks (stat, status, generation) {
  const [providers, setProviders] = useState({})
  const [trust, setTrust] = useState({})
  const asked = useRef(new Set())
  useEffect(() => { asked.current.clear(); setTrust({}) }, [generation])
  useEffect(() => {
    if (stat == null || status == null) return
    for (const img of stat.images.slice(0, MAX_IMAGES_CHECKED)) {
      if (asked.current.has(img.digest)) continue
      asked.current.add(img.digest)
      const d = img.digest
      api('GET', `/api/v0/providers/${d}`).then(r => setProviders(p => ({ ...p, [d]: { count: r.providers.length, complete: r.complete } })), () => {})
      if (!status.trustPolicy) {
        setTrust(t => ({ ...t, [d]: { error: { name: 'NoPolicy', message: 'the daemon has no trust policy (policy.json)' } } }))
        continue
      }
      api('POST', '/api/v0/image/verify', { digest: d })
        .then(r => setTrust(t => ({ ...t, [d]: r })), err => setTrust(t => ({ ...t, [d]: { error: { name: err.name, message: err.message } } })))
    }
  }, [stat, status, generation])
  return { providers, trust }
}

function App () {
  const view = useHash()
  const { samples, transfers, live } = useEvents()
  const [status, setStatus] = useState(null)
  const [peers, setPeers] = useState(null)
  const [stat, setStat] = useState(null)
  const [list, setList] = useState(null)
  const [error, setError] = useState(null)
  const [generation, setGeneration] = useState(0)
  const refresh = useCallback(async () => {
    try {
      const [s, p, st, l] = await Promise.all([
        api('GET', '/api/v0/node/status'), api('GET', '/api/v0/peers/detail'), api('GET', '/api/v0/repo/stat'), api('GET', '/api/v0/image/ls')
      ])
      setStatus(s); setPeers(p); setStat(st); setList(l); setError(null)
    } catch (err) {
      setError(err)
    }
  }, [])
  useEffect(() => {
    void refresh()
    const timer = setInterval(() => { void refresh() }, REFRESH_MS)
    return () => clearInterval(timer)
  }, [])
  // a view shows what is true now, not what the last refresh saw
  useEffect(() => { void refresh() }, [view])
  const { providers, trust } = useImageChecks(stat, status, generation)
  const changed = () => { setGeneration(g => g + 1); void refresh() }
  return (
    <div>
      <header>
        <h1>provenir</h1>
        <nav>{VIEWS.map(([id, label]) => <a key={id} href={`#${id}`} class={view === id ? 'on' : ''}>{label}</a>)}</nav>
        <span class={live ? 'live' : 'muted'} data-field='live'>{live ? '● live' : '○ offline'}</span>
      </header>
      {error != null ? <p class='fail banner'>{error.name}: {error.message}</p> : null}
      <main>
        {view === 'node' ? <NodeView status={status} /> : null}
        {view === 'peers' ? <PeersView peers={peers} /> : null}
        {view === 'images' ? <ImagesView stat={stat} list={list} providers={providers} trust={trust} onChanged={changed} /> : null}
        {view === 'transfers' ? <TransfersView transfers={transfers} /> : null}
        {view === 'bandwidth' ? <BandwidthView samples={samples} stat={stat} /> : null}
      </main>
    </div>
  )
}

render(<App />, document.getElementById('app'))
