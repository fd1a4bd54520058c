/**
 * containerd as a client: Debian's containerd (started by the test with its
 * own root, state and socket) pulls the large image with `ctr images pull
 * --hosts-dir`, the hosts.toml written by `provenir mirror config containerd`,
 * through the node (containerd's `?ns=<host>` mirror requests), which
 * fetches it from the Docker Hub stand-in once.
 */

import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DaemonProcess, TEST_INIT, fileExists, keepDaemonLogs, runCli, runJson, runTool, tempDir, waitFor } from '../daemon-helpers.js'
import { useStandIn } from './daemons.js'
import { FIXTURES, startStandIn, type StandIn } from './stand-in.js'

keepDaemonLogs(import.meta.url)

const LARGE = path.join(FIXTURES, 'large', 'oci')

describe('containerd through provenir as its mirror', () => {
  let dir: string
  let hub: StandIn
  let daemon: DaemonProcess
  let containerd: ChildProcess | undefined
  let socket: string
  let largeDigest: string
  const repo = (): string => path.join(dir, 'node')

  before(async () => {
    dir = await tempDir()
    largeDigest = (await fs.readFile(path.join(FIXTURES, 'large', 'manifest-digest'), 'utf8')).trim()
    hub = await startStandIn(path.join(dir, 'hub'), { images: [[LARGE, 'library/large', 'v1']] })
    await runJson(repo(), ['init', ...TEST_INIT])
    await useStandIn(repo(), hub)
    daemon = new DaemonProcess(repo())
    await daemon.ready()
    socket = path.join(dir, 'containerd', 'containerd.sock')
    const config = path.join(dir, 'containerd', 'config.toml')
    await fs.mkdir(path.dirname(config), { recursive: true })
    await fs.writeFile(config, [
      'version = 2',
      `root = "${path.join(dir, 'containerd', 'root')}"`,
      `state = "${path.join(dir, 'containerd', 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${socket}"`,
      '[ttrpc]',
      `  address = "${socket}.ttrpc"`,
      '[debug]',
      `  address = "${socket}.debug"`,
      '[metrics]',
      '  address = ""'
    ].join('\n') + '\n')
    containerd = spawn('containerd', ['--config', config], { stdio: 'ignore' })
    await waitFor('containerd to listen', async () => await fileExists(socket) ? true : undefined, 30_000, () => containerd?.exitCode != null)
  })

  after(async () => {
    if (containerd != null && containerd.exitCode == null) {
      const exited = new Promise(resolve => containerd?.once('exit', resolve))
      containerd.kill()
      await exited
    }
    daemon?.kill()
    await daemon?.exited
    await hub?.close()
    await fs.rm(dir, { recursive: true, force: true })
  })

  it('ctr images pull --hosts-dir of the large image through the node: the node fetched each blob from the upstream once', async () => {
    const certs = path.join(dir, 'certs.d')
    const written = await runCli(repo(), ['mirror', 'config', 'containerd', '--registry', hub.host, '--dir', certs, '--write'])
    assert.equal(written.code, 0, written.stderr)
    const toml = await fs.readFile(path.join(certs, hub.host, 'hosts.toml'), 'utf8')
    const gateway = new URL((await runJson(repo(), ['id'])).gateway)
    assert.match(toml, new RegExp(`\\[host\\."http://${gateway.host.replace(/\./g, '\\.')}"\\]`))
    const pushed = (await hub.accessLog()).length
    const pulled = await runTool('ctr', ['--address', socket, 'images', 'pull', '--snapshotter', 'native', '--hosts-dir', certs, `${hub.host}/library/large:v1`], 600_000)
    assert.equal(pulled.code, 0, pulled.stderr + pulled.stdout)
    const listed = await runTool('ctr', ['--address', socket, 'images', 'ls'])
    assert.match(listed.stdout, new RegExp(`${hub.host.replace(/\./g, '\\.')}/library/large:v1 .*${largeDigest}`))
    const log = await hub.accessLog()
    const blobGets = log.filter(e => e.method === 'GET' && e.path.startsWith('/v2/library/large/blobs/') && e.status === 200)
    // every request for the image since the test pushed it came from the node's registry client, none from the runtime going to the upstream itself
    const image = log.slice(pushed).filter(e => e.path.startsWith('/v2/library/large/'))
    assert.ok(image.length > 0 && image.every(e => e.userAgent?.startsWith('provenir-registry-client/') === true), JSON.stringify(image.filter(e => e.userAgent?.startsWith('provenir-registry-client/') !== true)))
    assert.ok(blobGets.length > 0, 'the node fetched the blobs from the upstream')
    assert.equal(new Set(blobGets.map(e => e.path)).size, blobGets.length, 'each blob once')
    const held = await waitFor('the node to record the image', async () => (await runJson(repo(), ['image', 'ls'])).images.find((i: { digest: string }) => i.digest === largeDigest))
    assert.equal(held.digest, largeDigest)
  })
})
