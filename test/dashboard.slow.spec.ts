/**
 * The dashboard in a real browser: Debian's headless Chromium, driven by
 * puppeteer-core (no browser download), on two real daemons. A imports the
 * images; B, whose policy.json audits for a signature nobody made, pulls the
 * large one from A. The pages load with no console error, show an import, a
 * pull's progress and its source while it runs, and the policy failure; the
 * page's own POSTs pass the API's Host/Origin guard, and a page on another
 * origin, in the same browser, cannot call the API. Screenshots of each view
 * go to test-output/dashboard/.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import fs from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import puppeteer from 'puppeteer-core'
import { ROOT, keepDaemonLogs, runCli, runJson, runTool, startDaemonPair } from './daemon-helpers.js'
import { buildFixtures } from './image-helpers.js'
import type { DaemonPair } from './daemon-helpers.js'
import type { Fixture } from './image-helpers.js'
import type { Browser, Page } from 'puppeteer-core'
import type { AddressInfo } from 'node:net'

keepDaemonLogs(import.meta.url)

/** The page's document, in functions puppeteer runs in the browser (the test project has no DOM types) */
declare const document: any

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'
const SHOTS = path.join(ROOT, 'test-output', 'dashboard')
const LONG = 5 * 60_000

describe('the dashboard in headless Chromium (two real daemons)', { skip: existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (apt-get install chromium)` }, () => {
  let pair: DaemonPair
  let small: Fixture
  let large: Fixture
  let browser: Browser
  let userData: string
  let apiA: string
  let apiB: string
  /** Console errors and uncaught exceptions of the dashboard pages */
  const errors: string[] = []

  async function dashboard (api: string, view: string): Promise<Page> {
    const page = await browser.newPage()
    await page.setViewport({ width: 1280, height: 800 })
    page.on('console', msg => { if (msg.type() === 'error') errors.push(`${api} console: ${msg.text()}`) })
    page.on('pageerror', err => { errors.push(`${api} page error: ${String(err)}`) })
    page.on('requestfailed', req => {
      // the event stream is cut when the page closes; anything else failing is an error
      if (!req.url().endsWith('/api/v0/events')) errors.push(`${api} request failed: ${req.url()} ${req.failure()?.errorText ?? ''}`)
    })
    await page.goto(`${api}/#${view}`, { waitUntil: 'load' })
    return page
  }

  /** The status of GET /api/v0/node/status with these headers (node:http, which lets a test set Host) */
  async function statusWith (api: string, headers: Record<string, string>): Promise<number | undefined> {
    return new Promise((resolve, reject) => {
      http.get(`${api}/api/v0/node/status`, { headers }, res => { res.resume(); resolve(res.statusCode) }).on('error', reject)
    })
  }

  /**
   * Clicks a button in the images table through the DOM. A row's cells fill in while the page
   * runs (its trust check, its providers) and the table's columns move with them: a mouse click
   * at the place the button was a moment before can land beside it, and the action never runs
   * (a CI run of 2026-12-07: the pin's POST never reached the daemon, the test waited 60 s).
   */
  async function press (page: Page, selector: string): Promise<void> {
    await page.waitForSelector(selector)
    await page.$eval(selector, el => { (el as unknown as { click: () => void }).click() })
  }

  async function shot (page: Page, name: string): Promise<void> {
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true })
  }

  before(async () => {
    ({ small, large } = await buildFixtures('all'))
    await fs.mkdir(SHOTS, { recursive: true })
    pair = await startDaemonPair(async ({ repoA, repoB }) => {
      // B audits every image for a manifest signature by `team`, which nobody gives: each image fails, none is refused
      const team = (await runJson(repoA, ['key', 'gen', 'team'])).userId
      await fs.writeFile(path.join(repoB, 'policy.json'), JSON.stringify({ version: 1, rules: [{ match: '**', mode: 'audit', manifest: { signers: [team] } }] }))
    })
    apiA = `http://${(await fs.readFile(path.join(pair.repoA, 'api'), 'utf8')).split('\n')[0].trim()}`
    apiB = `http://${(await fs.readFile(path.join(pair.repoB, 'api'), 'utf8')).split('\n')[0].trim()}`
    userData = await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-chromium-'))
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      userDataDir: userData,
      // root in CI has no user namespace for Chromium's sandbox
      args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage']
    })
  })

  after(async () => {
    await browser?.close()
    await pair?.stop()
    if (userData != null) await fs.rm(userData, { recursive: true, force: true })
  })

  it('loads from a running daemon with no console error: the node and peers views', async () => {
    const page = await dashboard(apiA, 'node')
    await page.waitForSelector(`[data-field=peerId]`)
    assert.equal(await page.$eval('[data-field=peerId]', el => el.textContent), pair.idA.peerId)
    await page.waitForSelector('[data-field=live]')
    await page.waitForFunction(() => document.querySelector('[data-field=live]')?.textContent?.includes('live') === true && !document.querySelector('[data-field=live]')!.textContent!.includes('offline'))
    await shot(page, 'node')
    await page.goto(`${apiA}/#peers`)
    // B is connected to A: its row, with A's ledger and the difficulty check
    const idB = (await runJson(pair.repoB, ['id'])).peerId
    await page.waitForSelector(`tr[data-peer="${idB}"]`)
    const row = await page.$eval(`tr[data-peer="${idB}"]`, el => el.textContent ?? '')
    assert.match(row, /inbound|outbound/)
    assert.match(row, /✓/)
    await shot(page, 'peers')
    await page.close()
    assert.deepEqual(errors, [])
  })

  it('shows an image after an import, and removes it through the page (a POST past the Origin guard)', async () => {
    const page = await dashboard(apiA, 'images')
    await page.waitForSelector('[data-view=images]')
    const res = await runCli(pair.repoA, ['image', 'import', small.oci, '--json'], LONG)
    assert.equal(res.code, 0, res.stderr)
    // no reload: the page reads the store again on its own
    await page.waitForSelector(`tr[data-image="${small.digest}"]`, { timeout: 30_000 })
    const row = await page.$eval(`tr[data-image="${small.digest}"]`, el => el.textContent ?? '')
    assert.match(row, /pinned/)
    await shot(page, 'images')
    // the page's Remove asks once more, then POSTs /api/v0/image/rm as `provenir image rm` does
    await press(page, `tr[data-image="${small.digest}"] [data-action=remove]`)
    await page.waitForFunction((d: string) => document.querySelector(`tr[data-image="${d}"] [data-action=remove]`)?.textContent?.includes('Really') === true, {}, small.digest)
    await press(page, `tr[data-image="${small.digest}"] [data-action=remove]`)
    await page.waitForFunction((d: string) => document.querySelector(`tr[data-image="${d}"]`) == null, { timeout: 30_000 }, small.digest)
    const ls = await runJson(pair.repoA, ['image', 'ls'])
    assert.equal(ls.images.some((i: { digest: string }) => i.digest === small.digest), false)
    await page.close()
    assert.deepEqual(errors, [])
  })

  it('shows a pull\'s progress and its source (A) while B pulls the large image, then the bandwidth', async () => {
    const imported = await runCli(pair.repoA, ['image', 'import', large.oci, '--json'], LONG)
    assert.equal(imported.code, 0, imported.stderr)
    const page = await dashboard(apiB, 'transfers')
    await page.waitForSelector('[data-view=transfers]')
    const pulling = runCli(pair.repoB, ['image', 'pull', large.digest, '--json'], LONG)
    // while it runs: a progress bar with a total, and A's NodeId among the sources
    const running = `tr[data-transfer="${large.digest}"][data-state=running]`
    await page.waitForFunction((sel: string, peer: string) => {
      const row = document.querySelector(sel)
      return row?.querySelector(`[data-source="${peer}"]`) != null && /of .*\(\d+%\)/.test(row.querySelector('[data-field=progress]')?.textContent ?? '')
    }, { timeout: LONG }, running, pair.idA.peerId)
    const text = await page.$eval(running, el => el.textContent ?? '')
    await shot(page, 'transfers')
    const res = await pulling
    assert.equal(res.code, 0, res.stderr)
    assert.match(text, /running/)
    assert.match(text, /\/s/)
    await page.waitForSelector(`tr[data-transfer="${large.digest}"][data-state=done]`)
    const done = await page.$eval(`tr[data-transfer="${large.digest}"]`, el => el.textContent ?? '')
    assert.match(done, /\(100%\)/)
    // the peers view's byte counts cover the bulk channel, the pull's path, as well as bitswap
    const transfers = await (await fetch(`${apiB}/api/v0/transfers`)).json() as { transfers: Array<{ digest: string, total: number }> }
    const total = transfers.transfers.find(t => t.digest === large.digest)!.total
    const peers = await (await fetch(`${apiB}/api/v0/peers/detail`)).json() as { peers: Array<{ peerId: string, bytesReceived: number, bulkBytesReceived: number }> }
    const fromA = peers.peers.find(p => p.peerId === pair.idA.peerId)!
    assert.ok(fromA.bytesReceived + fromA.bulkBytesReceived >= total * 0.99, `B received ${fromA.bytesReceived} + ${fromA.bulkBytesReceived} bytes from A, of ${total}`)
    await page.goto(`${apiB}/#bandwidth`)
    await page.waitForSelector('[data-field=chart] canvas')
    await page.waitForSelector('[data-field=store]')
    await shot(page, 'bandwidth')
    await page.close()
    assert.deepEqual(errors, [])
  })

  it('shows the policy failure of an image that breaks a rule, with the rule and the check', async () => {
    const page = await dashboard(apiB, 'images')
    const cell = `tr[data-image="${large.digest}"] [data-trust]`
    await page.waitForSelector(cell, { timeout: 30_000 })
    assert.equal(await page.$eval(cell, el => el.getAttribute('data-trust')), 'fail')
    const text = await page.$eval(cell, el => el.textContent ?? '')
    assert.match(text, /FAILS the policy/)
    assert.match(text, /audit/)
    assert.match(text, /fail: manifest sha256:[0-9a-f]{64} against rules\[0\]\.manifest/)
    await shot(page, 'images-policy')
    await page.close()
    assert.deepEqual(errors, [])
  })

  it('shows a registry client\'s pull through B\'s gateway as a transfer, with A as its source', async () => {
    const imported = await runCli(pair.repoA, ['image', 'import', small.oci, '--json'], LONG)
    assert.equal(imported.code, 0, imported.stderr)
    const gateway = pair.b.events().find(e => e.event === 'ready').gateway.replace(/^http:\/\//, '')
    const out = path.join(pair.root, 'copied')
    const copy = await runTool('skopeo', ['copy', '--src-tls-verify=false', `docker://${gateway}/acme/small@${small.digest}`, `oci:${out}:v1`], LONG)
    assert.equal(copy.code, 0, copy.stderr)
    const page = await dashboard(apiB, 'transfers')
    const row = `tr[data-transfer="${small.digest}"][data-via=gateway]`
    await page.waitForSelector(`${row}[data-state=done] [data-source="${pair.idA.peerId}"]`, { timeout: 30_000 })
    assert.match(await page.$eval(row, el => el.textContent ?? ''), /registry client \(gateway\).*done/)
    await shot(page, 'transfers-gateway')
    await page.close()
    assert.deepEqual(errors, [])
  })

  it('pins a cached image and pulls by digest through the CLI\'s routes, with the CLI\'s errors', async () => {
    // the gateway's pull kept the small image on B as cache: the page offers to pin it
    const page = await dashboard(apiB, 'images')
    const row = `tr[data-image="${small.digest}"]`
    await page.waitForSelector(`${row} [data-action=pin]`, { timeout: 30_000 })
    assert.match(await page.$eval(row, el => el.textContent ?? ''), /cache/)
    await press(page, `${row} [data-action=pin]`)
    await page.waitForFunction((sel: string) => document.querySelector(sel)?.textContent?.includes('pinned') === true, { timeout: 60_000 }, row)
    const stat = await runJson(pair.repoB, ['repo', 'stat'])
    assert.equal(stat.images.find((i: { digest: string }) => i.digest === small.digest).cache, false)
    // a digest nobody holds: the pull form shows the error the CLI would print
    const missing = `sha256:${'0'.repeat(64)}`
    await page.type('input[name=ref]', missing)
    await page.click('[data-action=pull]')
    await page.waitForSelector('[data-field=error]', { timeout: 60_000 })
    const shown = await page.$eval('[data-field=error]', el => el.textContent ?? '')
    const cli = await runCli(pair.repoB, ['image', 'pull', missing, '--json'], LONG)
    const { error } = JSON.parse(cli.stderr.trim().split('\n').pop()!)
    assert.equal(shown.split(':')[0], error.name)
    await shot(page, 'images-actions')
    await page.close()
    assert.deepEqual(errors, [])
  })

  it('a page on another origin, in the same browser, cannot call the API', async () => {
    // a second, tiny web server on another port: what any site the operator visits could be
    const server = http.createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>elsewhere</title>') })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    try {
      const other = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
      const page = await browser.newPage()
      await page.goto(other)
      const results = await page.evaluate(async (api: string) => {
        const attempt = async (url: string, init?: RequestInit): Promise<string> => fetch(url, init).then(r => `status ${r.status} ${r.type}`, (err: Error) => `rejected ${err.name}`)
        return {
          read: await attempt(`${api}/api/v0/node/status`),
          post: await attempt(`${api}/api/v0/image/rm`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ref: 'x' }) }),
          // a no-cors request is sent, but the answer is opaque: the daemon must refuse it itself
          blind: await attempt(`${api}/api/v0/gc`, { method: 'POST', mode: 'no-cors', body: '{}' })
        }
      }, apiB)
      assert.equal(results.read, 'rejected TypeError')
      assert.equal(results.post, 'rejected TypeError')
      assert.equal(results.blind, 'status 0 opaque')
      await page.close()
      // what the daemon answers a request with that page's Origin: refused before any handler runs
      const refused = await fetch(`${apiB}/api/v0/gc`, { method: 'POST', headers: { origin: other.slice(0, -1), 'content-type': 'application/json' }, body: '{}' })
      assert.equal(refused.status, 403)
      assert.equal(((await refused.json()) as { error: { name: string } }).error.name, 'ForbiddenError')
      // and the page's own origin on a name that is not loopback (DNS rebinding) is refused too
      assert.equal(await statusWith(apiB, { host: 'evil.example', origin: 'http://evil.example' }), 403)
      assert.equal(await statusWith(apiB, { host: 'evil.example' }), 403)
      // the same request from the page's own origin passes
      const own = await fetch(`${apiB}/api/v0/node/status`, { headers: { origin: apiB } })
      assert.equal(own.status, 200)
      // B still holds the image the pages never removed
      const ls = await runJson(pair.repoB, ['image', 'ls'])
      assert.equal(ls.images.some((i: { digest: string }) => i.digest === large.digest), true)
    } finally {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  })
})
