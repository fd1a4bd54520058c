import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { InvalidParametersError } from '@provenir/interface'
import { launcherPath } from '../launcher.js'
import { createOutput } from '../output.js'
import type { JsonOption } from './common.js'
import type { Command } from 'commander'

interface UnitOptions extends JsonOption {
  user?: string
  repo?: string
  exec?: string
  output?: string
}

/** A user name systemd accepts (`User=`), without shell or unit-file specials */
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/

/**
 * A systemd unit for the daemon. Without a user it runs as a transient
 * `DynamicUser` whose repo is systemd's `StateDirectory` (/var/lib/provenir),
 * so installing it needs no account; the launcher must then be readable by
 * every user (not under a private home). The daemon stops gracefully on
 * SIGTERM, which is systemd's default stop signal.
 */
export function systemdUnit (opts: { exec: string, user?: string, repo?: string }): string {
  if (!path.isAbsolute(opts.exec) || /\s|%|\\/.test(opts.exec)) throw new InvalidParametersError(`the daemon's executable must be an absolute path without spaces, % or \\: ${JSON.stringify(opts.exec)}`)
  if (opts.user != null && !USER_NAME.test(opts.user)) throw new InvalidParametersError(`not a user name systemd accepts: ${JSON.stringify(opts.user)}`)
  const repo = opts.repo ?? '/var/lib/provenir'
  if (!path.isAbsolute(repo) || /\s|%|\\/.test(repo)) throw new InvalidParametersError(`the repo must be an absolute path without spaces, % or \\: ${JSON.stringify(repo)}`)
  const account = opts.user != null
    ? [`User=${opts.user}`, `Group=${opts.user}`, `ReadWritePaths=${repo}`]
    : ['DynamicUser=yes', ...(opts.repo == null ? ['StateDirectory=provenir'] : [`ReadWritePaths=${repo}`])]
  return [
    '[Unit]',
    'Description=provenir: peer-to-peer container-image registry node',
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    ...account,
    `Environment=PROVENIR_PATH=${repo}`,
    `ExecStart=${opts.exec} daemon`,
    'Restart=on-failure',
    'RestartSec=5s',
    // the daemon's own graceful-shutdown deadline is shorter
    'TimeoutStopSec=45s',
    'LimitNOFILE=65536',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=read-only',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectKernelTunables=yes',
    'ProtectControlGroups=yes',
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    ''
  ].join('\n')
}

export function registerService (program: Command): void {
  program.command('systemd-unit')
    .description('print (or write) a systemd unit that runs this installation\'s daemon')
    .option('--user <name>', 'run as this existing account (default: a DynamicUser with /var/lib/provenir as its repo)')
    .option('--repo <dir>', 'the daemon\'s repo directory (default: /var/lib/provenir)')
    .option('--exec <path>', 'the provenir executable (default: this installation\'s launcher)')
    .option('-o, --output <file>', 'write the unit to this file instead of printing it')
    .option('--json', 'print {"unit","path"} as JSON')
    .action(async (opts: UnitOptions) => {
      const out = createOutput(opts.json === true)
      const unit = systemdUnit({
        exec: opts.exec != null ? path.resolve(opts.exec) : launcherPath(),
        ...(opts.user != null ? { user: opts.user } : {}),
        ...(opts.repo != null ? { repo: path.resolve(opts.repo) } : {})
      })
      const file = opts.output != null ? path.resolve(opts.output) : undefined
      if (file != null) await writeFile(file, unit, { mode: 0o644 })
      if (out.json) out.result({ unit, ...(file != null ? { path: file } : {}) })
      else if (file != null) out.line(`Wrote ${file}; install it with: cp ${file} /etc/systemd/system/provenir.service && systemctl daemon-reload && systemctl enable --now provenir`)
      else process.stdout.write(unit)
    })
}
