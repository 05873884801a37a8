/**
 * The same idle-tunnel figure for stock OpenSSH, the baseline a reverse-tunnel service
 * would otherwise be built on: a private sshd on a loopback port with its own config,
 * and one `ssh -N -R` per device. Each sshd connection is its own processes (privilege
 * separation: a monitor and a child), so the server side is summed over all of them,
 * as PSS (shared pages split fairly between the processes that map them) and as RSS.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IdleRow } from './idle-row.ts';

const sshd = '/usr/sbin/sshd';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Server memory per idle `ssh -R` tunnel, with `n` tunnels whose remote ports start at `portBase`. */
export async function measureOpenSsh(n: number, portBase: number): Promise<IdleRow[]> {
  if (!existsSync(sshd)) {
    console.error('[idle-tunnels] no /usr/sbin/sshd (apt-get install openssh-server): OpenSSH comparison skipped');
    return [];
  }
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-openssh-bench-'));
  const listenPort = portBase;
  const clients: ChildProcess[] = [];
  let server: ChildProcess | undefined;
  try {
    for (const name of ['host_key', 'client_key']) {
      spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name)], { stdio: 'ignore' });
    }
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')));
    writeFileSync(
      join(dir, 'sshd_config'),
      [
        `Port ${listenPort}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${join(dir, 'host_key')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'StrictModes no',
        'UsePAM no',
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        // What a forwarding-only gateway would allow: remote forwards, nothing else.
        'AllowTcpForwarding remote',
        'GatewayPorts no',
        'PermitTTY no',
        'X11Forwarding no',
        'AllowAgentForwarding no',
        'ClientAliveInterval 15',
        'UseDNS no',
        `MaxStartups ${n}:30:${n * 2}`,
        'LogLevel ERROR',
      ].join('\n') + '\n',
    );
    mkdirSync('/run/sshd', { recursive: true });
    server = spawn(sshd, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'inherit'] });
    await sleep(500);
    if (server.exitCode !== null) throw new Error(`sshd exited with ${server.exitCode}`);
    const baseline = memoryOf(processTree(server.pid!));

    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      clients.push(
        spawn(
          'ssh',
          [
            '-N',
            '-R',
            `127.0.0.1:${portBase + 1 + i}:127.0.0.1:9`,
            '-p',
            String(listenPort),
            '-i',
            join(dir, 'client_key'),
            '-o',
            'IdentitiesOnly=yes',
            '-o',
            'BatchMode=yes',
            '-o',
            'StrictHostKeyChecking=no',
            '-o',
            'UserKnownHostsFile=/dev/null',
            '-o',
            'ExitOnForwardFailure=yes',
            '-o',
            'ServerAliveInterval=15',
            '-o',
            'LogLevel=ERROR',
            'root@127.0.0.1',
          ],
          { stdio: 'ignore' },
        ),
      );
      // Paced like devices booting, and so sshd's MaxStartups is never what limits this.
      if (i % 20 === 19) await sleep(50);
    }
    let up = 0;
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline && (up = listeningIn(portBase + 1, portBase + n)) < n) await sleep(250);
    console.error(`[idle-tunnels] openssh: ${up}/${n} forwards up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await sleep(2_000);
    const pids = processTree(server.pid!);
    const loaded = memoryOf(pids);
    const perPss = (loaded.pss - baseline.pss) / up;
    const perRss = (loaded.rss - baseline.rss) / up;
    return [
      {
        metric: `server memory per idle tunnel (PSS) @${up}`,
        path: 'openssh',
        value: Math.round(perPss / 102.4) / 10,
        unit: 'KB',
        note: `${pids.length - 1} sshd processes for ${up} connections; RSS summed: ${Math.round(perRss / 1024)} KB per tunnel`,
      },
    ];
  } finally {
    for (const c of clients) c.kill('SIGKILL');
    if (server?.pid) for (const pid of processTree(server.pid).reverse()) killQuietly(pid);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The process and all its descendants, parents first. */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    out.push(pid);
    for (const c of children.get(pid) ?? []) walk(c);
  };
  walk(root);
  return out;
}

function memoryOf(pids: number[]): { pss: number; rss: number } {
  let pss = 0;
  let rss = 0;
  for (const pid of pids) {
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      pss += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0) * 1024;
      rss += Number(/^Rss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0) * 1024;
    } catch {
      // exited meanwhile
    }
  }
  return { pss, rss };
}

/** Listening TCP sockets on 127.0.0.1 with a port in [lo, hi]. */
function listeningIn(lo: number, hi: number): number {
  const out = spawnSync('ss', ['-Hltn', `sport >= :${lo} and sport <= :${hi}`], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter((l) => l.trim()).length;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
