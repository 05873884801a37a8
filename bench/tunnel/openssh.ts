import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Processes } from './processes.ts';
import { loopback } from './net.ts';

const sshdBin = '/usr/sbin/sshd';
/** The forwarding-only account the stock sshd lets the "device" in as. */
export const benchUser = 'p2pvps-bench';

export interface Forward {
  /** Port sshd listens on for visitors, on 127.0.0.1. */
  remotePort: number;
  /** Where the ssh client delivers them, on 127.0.0.1. */
  localPort: number;
}

export interface StockSshd {
  port: number;
  /** The listening sshd; each connection is served by processes below it. */
  pid: number;
  version: string;
  /** Spawns `ssh -N -R …` for these forwards; the returned process is tracked by `processes`. */
  tunnel(forwards: readonly Forward[], extraArgs?: readonly string[]): ChildProcess;
  /** Key exchange and cipher stock OpenSSH negotiates here, as `ssh -v` reports them. */
  negotiated(): Promise<{ kex: string; cipher: string }>;
  stop(): Promise<void>;
}

/** Creates the forwarding-only account if it is missing: no home, no shell, no password, not locked (sshd without PAM refuses locked accounts). */
export function ensureBenchUser(): void {
  if (spawnSync('id', ['-u', benchUser], { stdio: 'ignore' }).status === 0) return;
  const made = spawnSync(
    'useradd',
    ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--password', '*', benchUser],
    { encoding: 'utf8' },
  );
  if (made.status !== 0) throw new Error(`useradd ${benchUser} failed: ${made.stderr.trim()}`);
}

/**
 * Debian's stock sshd on a loopback port with a config of our own, as a reverse-tunnel
 * gateway would be set up with OpenSSH: one account that may only open remote forwards on
 * loopback (no TTY, no command, no local forwards, GatewayPorts no), key-only login.
 * Crypto is left at OpenSSH's defaults on both sides: that is the standard tool.
 */
export async function startStockSshd(processes: Processes, port: number, permitListen: readonly number[]): Promise<StockSshd> {
  if (!existsSync(sshdBin)) throw new Error(`${sshdBin} not found: apt-get install -y openssh-server`);
  ensureBenchUser();
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-bench-sshd-'));
  // sshd reads authorized_keys as the account itself.
  chmodSync(dir, 0o755);
  for (const name of ['host_ed25519', 'client_ed25519']) {
    const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  }
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_ed25519.pub')), { mode: 0o644 });
  const hostKey = readFileSync(join(dir, 'host_ed25519.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  writeFileSync(join(dir, 'known_hosts'), `[${loopback}]:${port} ${hostKey}\n`);
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      `ListenAddress ${loopback}`,
      `HostKey ${join(dir, 'host_ed25519')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `AllowUsers ${benchUser}`,
      'StrictModes no',
      'UsePAM no',
      'PermitRootLogin no',
      'AuthenticationMethods publickey',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitTTY no',
      'ForceCommand /bin/false',
      'X11Forwarding no',
      'AllowAgentForwarding no',
      'AllowStreamLocalForwarding no',
      'AllowTcpForwarding remote',
      'PermitOpen none',
      `PermitListen ${permitListen.map((p) => `${loopback}:${p}`).join(' ')}`,
      'GatewayPorts no',
      'ClientAliveInterval 15',
      'UseDNS no',
      'PrintMotd no',
      'MaxStartups 100:30:200',
      'LogLevel ERROR',
    ].join('\n') + '\n',
  );
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const test = spawnSync(sshdBin, ['-t', '-f', join(dir, 'sshd_config')], { encoding: 'utf8' });
  if (test.status !== 0) throw new Error(`sshd -t rejected the bench config: ${test.stderr.trim()}`);
  const child = await processes.spawnListening('sshd', sshdBin, ['-D', '-e', '-f', join(dir, 'sshd_config')], port);
  const version = spawnSync('ssh', ['-V'], { encoding: 'utf8' }).stderr.trim();

  const argsFor = (forwards: readonly Forward[], extra: readonly string[]) => [
    '-F',
    '/dev/null',
    '-N',
    ...forwards.flatMap((f) => ['-R', `${loopback}:${f.remotePort}:${loopback}:${f.localPort}`]),
    '-p',
    String(port),
    '-i',
    join(dir, 'client_ed25519'),
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    `UserKnownHostsFile=${join(dir, 'known_hosts')}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'ExitOnForwardFailure=yes',
    '-o',
    'ServerAliveInterval=15',
    ...extra,
    `${benchUser}@${loopback}`,
  ];

  return {
    port,
    pid: child.pid!,
    version,
    tunnel: (forwards, extra = ['-o', 'LogLevel=ERROR']) => processes.spawn('ssh', argsFor(forwards, extra)),
    async negotiated() {
      // A plain connection that asks for nothing and exits at once (-N with -o
      // SessionType would need 8.7+; an unknown forward-free login is enough here).
      const r = spawnSync('ssh', [...argsFor([], ['-v', '-o', 'ConnectTimeout=10']).filter((a) => a !== '-N'), 'true'], {
        encoding: 'utf8',
        timeout: 15_000,
      });
      const kex = /kex: algorithm: (\S+)/.exec(r.stderr)?.[1] ?? 'unknown';
      const cipher = /kex: server->client cipher: (\S+)/.exec(r.stderr)?.[1] ?? 'unknown';
      return { kex, cipher };
    },
    async stop() {
      await processes.stop(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
