// The node, peers and transfers views: tables over the API's JSON.
import { formatBytes, formatDuration, short } from './api.js'

export function NodeView ({ status }) {
  if (status == null) return <p>loading…</p>
  return (
    <dl class='kv' data-view='node'>
      <dt>NodeId</dt><dd class='mono' data-field='peerId'>{status.peerId}</dd>
      <dt>Difficulty</dt><dd>{status.difficulty} bits (swarm requires {status.swarmDifficulty})</dd>
      <dt>Swarm</dt><dd>{status.privateSwarm ? 'private (swarm.key)' : 'public'}</dd>
      <dt>Uptime</dt><dd>{formatDuration(status.uptimeMs)}</dd>
      <dt>Version</dt><dd>{status.version}</dd>
      <dt>Connections</dt><dd>{status.connections}</dd>
      <dt>Addresses</dt><dd><ul class='mono'>{status.addresses.map(a => <li key={a}>{a}</li>)}</ul></dd>
    </dl>
  )
}

export function PeersView ({ peers }) {
  if (peers == null) return <p>loading…</p>
  if (peers.peers.length === 0) return <p data-view='peers'>No peers connected.</p>
  const now = Date.now()
  return (
    <table data-view='peers'>
      <thead><tr><th>Peer</th><th>Addresses</th><th>Direction</th><th>Age</th><th>Latency</th><th>Sent (bitswap)</th><th>Received (bitswap + bulk)</th><th>Difficulty</th></tr></thead>
      <tbody>
        {peers.peers.map(p => (
          <tr key={p.peerId} data-peer={p.peerId}>
            <td class='mono' title={p.peerId}>{short(p.peerId)}</td>
            <td class='mono small'>{p.addrs.join(' ')}</td>
            <td>{p.direction}</td>
            <td>{formatDuration(now - p.connectedAt)}</td>
            <td>{p.latencyMs != null ? `${p.latencyMs} ms` : '–'}</td>
            <td>{formatBytes(p.bytesSent)}</td>
            <td title={`bitswap ${formatBytes(p.bytesReceived)}, bulk channel ${formatBytes(p.bulkBytesReceived)}`}>{formatBytes(p.bytesReceived + p.bulkBytesReceived)}</td>
            <td class={p.passedDifficulty ? 'pass' : 'fail'}>{p.difficulty} {p.passedDifficulty ? '✓' : '✗'}</td>
          </tr>
        ))}
      </tbody>
      {peers.truncated ? <caption>more peers than listed</caption> : null}
    </table>
  )
}

export function TransfersView ({ transfers }) {
  if (transfers == null) return <p>loading…</p>
  if (transfers.length === 0) return <p data-view='transfers'>No transfers yet.</p>
  return (
    <table data-view='transfers'>
      <thead><tr><th>Image</th><th>Via</th><th>State</th><th>Progress</th><th>Rate</th><th>Sources</th></tr></thead>
      <tbody>
        {transfers.map(t => {
          const pct = t.total != null && t.total > 0 ? Math.min(100, Math.round(t.bytes * 100 / t.total)) : null
          return (
            <tr key={t.id} data-transfer={t.digest} data-state={t.state} data-via={t.via}>
              <td class='mono' title={t.digest}>{t.reference ?? short(t.digest)}</td>
              <td>{t.via === 'gateway' ? 'registry client (gateway)' : 'API'}</td>
              <td class={t.state === 'failed' ? 'fail' : ''}>{t.state}{t.error != null ? `: ${t.error.name}: ${t.error.message}` : ''}</td>
              <td>
                <div class='bar'><div class='fill' style={{ width: `${pct ?? 0}%` }} /></div>
                <span data-field='progress'>{formatBytes(t.bytes)}{t.total != null ? ` of ${formatBytes(t.total)} (${pct}%)` : ''}</span>
              </td>
              <td>{formatBytes(t.rate)}/s</td>
              <td><ul class='sources'>{t.sources.map(s => <li key={s.source} data-source={s.source}><span class='mono' title={s.source}>{s.source === 'local' || s.source === 'other' ? s.source : `peer ${short(s.source)}`}</span> {formatBytes(s.bytes)}</li>)}</ul></td>
            </tr>
          )
        })}
      </tbody>
    </table>
  )
}
