// The images view: what the store holds, its providers, the trust chain, and the actions (pin, remove, pull).
import { useState } from 'preact/hooks'
import { api, formatBytes, short, streamed } from './api.js'

function Trust ({ trust }) {
  if (trust == null) return <span>checking…</span>
  if (trust.error != null) return <span class='muted' data-trust='unknown'>{trust.error.name}: {trust.error.message}</span>
  const { report, statements } = trust
  return (
    <div data-trust={report.passed ? 'pass' : 'fail'}>
      <strong class={report.passed ? 'pass' : 'fail'}>{report.passed ? 'passes' : 'FAILS'} the policy</strong> ({report.mode}, rule {report.ruleIndex >= 0 ? `rules[${report.ruleIndex}]` : 'default'})
      <ul class='small'>
        {statements.length === 0 ? <li>no signatures or attestations</li> : null}
        {statements.map(s => <li key={s.cid}>{s.predicateType} signed by {s.signers.join(', ') || 'nobody trusted'}</li>)}
        {report.checks.map((c, i) => (
          <li key={i} class={c.result} data-check={c.result}>{c.result}: {c.object} against {c.rule}: {c.reason}{c.signers?.length > 0 ? ` (${c.signers.join(', ')})` : ''}</li>
        ))}
        {report.warnings.map((w, i) => <li key={`w${i}`} class='muted'>warning: {w}</li>)}
      </ul>
    </div>
  )
}

function Actions ({ image, onDone }) {
  const [busy, setBusy] = useState(false)
  const [armed, setArmed] = useState(false)
  const run = async (fn) => {
    setBusy(true)
    try { await fn(); onDone(null) } catch (err) { onDone(err) } finally { setBusy(false); setArmed(false) }
  }
  return (
    <span>
      {image.cache ? <button disabled={busy} data-action='pin' onClick={() => run(() => streamed('/api/v0/image/pull', { digest: image.digest }))}>Pin</button> : null}
      <button disabled={busy} data-action='remove' class={armed ? 'danger' : ''} onClick={() => armed ? run(() => api('POST', '/api/v0/image/rm', { ref: image.digest })) : setArmed(true)}>{armed ? 'Really remove?' : 'Remove'}</button>
    </span>
  )
}

function PullForm ({ onDone }) {
  const [ref, setRef] = useState('')
  const [line, setLine] = useState(null)
  const submit = async (e) => {
    e.preventDefault()
    const value = ref.trim()
    if (value === '') return
    const body = /^sha(256|512):/.test(value) ? { digest: value } : { reference: value }
    setLine('pulling…')
    try {
      const done = await streamed('/api/v0/image/pull', body, (l) => setLine(`${formatBytes(l.bytes)}${l.total != null ? ` of ${formatBytes(l.total)}` : ''}`))
      setLine(`pulled ${done.image.digest}`)
      onDone(null)
    } catch (err) {
      setLine(null)
      onDone(err)
    }
  }
  return (
    <form onSubmit={submit} class='pull'>
      <input name='ref' placeholder='digest or [registry/]namespace/repo[:tag]' value={ref} onInput={e => setRef(e.currentTarget.value)} size='60' maxLength='512' />
      <button type='submit' data-action='pull'>Pull</button>
      {line != null ? <span class='muted'> {line}</span> : null}
    </form>
  )
}

export function ImagesView ({ stat, list, providers, trust, onChanged }) {
  const [error, setError] = useState(null)
  const done = (err) => { setError(err); onChanged() }
  if (stat == null) return <p>loading…</p>
  const blobs = new Map((list?.images ?? []).map(i => [i.digest, i]))
  return (
    <div data-view='images'>
      <PullForm onDone={done} />
      {error != null ? <p class='fail' data-field='error'>{error.name}: {error.message}</p> : null}
      {stat.images.length === 0 ? <p>No images.</p> : null}
      <table>
        <thead><tr><th>Image</th><th>Tags</th><th>Size</th><th>Blobs</th><th>Providers</th><th>Kept as</th><th>Trust</th><th /></tr></thead>
        <tbody>
          {stat.images.map(img => (
            <tr key={img.digest} data-image={img.digest}>
              <td class='mono' title={img.digest}>{short(img.digest)}</td>
              <td>{img.tags.join(', ')}</td>
              <td>{formatBytes(img.size)}</td>
              <td>{blobs.get(img.digest)?.blobs ?? '?'}</td>
              <td>{providers[img.digest] == null ? '…' : `${providers[img.digest].count}${providers[img.digest].complete ? '' : '+'}`}</td>
              <td>{img.cache ? 'cache' : 'pinned'}</td>
              <td><Trust trust={trust[img.digest]} /></td>
              <td><Actions image={img} onDone={done} /></td>
            </tr>
          ))}
        </tbody>
      </table>
      {stat.truncated ? <p class='muted'>more images than listed</p> : null}
    </div>
  )
}
