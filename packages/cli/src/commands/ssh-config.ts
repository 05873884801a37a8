import { mkdir } from 'node:fs/promises';
import type { Rental } from '@p2pvps/protocol/schemas';
import { knownHostsDir, knownHostsFile } from '../config.ts';
import type { Context } from '../context.ts';
import { sshConfigPath } from '../format.ts';
import { listOpenRentals } from './open-rentals.ts';

/**
 * `rentals --ssh-config`: a `~/.ssh/config` snippet with a `Host p2pvps-DEVICE` block per
 * open rental, so plain `ssh`, `scp` and editors reach it. Host keys go to the same
 * per-rental known_hosts file `p2pvps ssh` uses, since every container has new ones.
 */

/** A device name as a word ssh config accepts in a Host line: no spaces, quotes or patterns. */
export function hostAlias(deviceName: string, deviceId: string): string {
  const word = deviceName
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .toLowerCase();
  return `p2pvps-${word || deviceId}`;
}

/** A value for ssh config, quoted when it holds a space; ssh config cannot escape a quote, so one is dropped. */
function configValue(value: string): string {
  return /[\s"#]/.test(value) ? `"${value.replace(/["\\]/g, '')}"` : value;
}

export function sshConfigSnippet(rentals: readonly Rental[], configPath: string): string {
  const aliases = rentals.map((r) => hostAlias(r.deviceName, r.deviceId));
  // Two devices with the same name get their IDs added, so each Host stays reachable.
  const unique = aliases.map((a, i) => (aliases.indexOf(a) === aliases.lastIndexOf(a) ? a : `${a}-${rentals[i]?.deviceId}`));
  return rentals
    .map((r, i) =>
      [
        `# rental ${r.id} on ${r.deviceId}`,
        `Host ${unique[i]}`,
        `  HostName ${configValue(r.connection.host)}`,
        `  Port ${r.connection.port}`,
        `  User ${configValue(r.connection.username)}`,
        `  UserKnownHostsFile ${sshConfigPath(knownHostsFile(configPath, r.id))}`,
        '  StrictHostKeyChecking accept-new',
        '',
      ].join('\n'),
    )
    .join('\n');
}

export async function printSshConfig(ctx: Context): Promise<void> {
  const rentals = await listOpenRentals(ctx.userClient());
  if (rentals.length === 0) {
    ctx.io.stderr.write('You have no open rentals; there is nothing to connect to.\n');
    return;
  }
  // ssh adds host keys to the files but does not make their directory.
  await mkdir(knownHostsDir(ctx.configPath), { recursive: true, mode: 0o700 });
  ctx.out(sshConfigSnippet(rentals, ctx.configPath));
}
