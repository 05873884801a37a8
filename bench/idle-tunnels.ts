/**
 * Idle device tunnels: what each one costs the server while nothing flows, how many one
 * server holds, and how fast they all come back after the server restarts.
 *
 *   node --import tsx bench/idle-tunnels.ts
 *
 * Everything runs on loopback. The server is the real startServer (SQLite file in a temp
 * dir, real gateway and policy lookup) in its own process; the devices are real
 * TunnelClients, each with its own Ed25519 key, spread over a few processes. Devices are
 * written straight into the database: enrolment is not what is measured here. Stock
 * OpenSSH (one sshd connection per `ssh -N -R`) is measured for comparison when sshd is
 * installed.
 *
 * Environment: BENCH_IDLE_TUNNELS (default 10000), BENCH_IDLE_WINDOW_MS (15000, one
 * keepalive interval), BENCH_OPENSSH_TUNNELS (300; 0 skips it: each tunnel is an ssh and
 * an sshd process, 1,000 take 90 s to start on 2 cores, and the per-tunnel figure is the
 * same at 100 and at 1,000), BENCH_PORT_BASE (9990: gateway and API there, device ports
 * from BENCH_PORT_BASE + 10, OpenSSH's below it), BENCH_NODE_ARGS (extra node flags for
 * the bench's processes, e.g. --cpu-prof).
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeviceSpec, FromDevices, ToDevices } from './idle-tunnels/device-process.ts';
import type { FromServer, ServerStats, ToServer } from './idle-tunnels/server-process.ts';
import { measureOpenSsh } from './idle-tunnels/openssh.ts';
import type { IdleRow } from './idle-tunnels/idle-row.ts';

export type { IdleRow };

const here = fileURLToPath(new URL('.', import.meta.url));
const deviceProcesses = 3;
const kb = (bytes: number) => Math.round(bytes / 102.4) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runIdleTunnelBench(): Promise<IdleRow[]> {
  const wanted = Number(process.env.BENCH_IDLE_TUNNELS ?? 10_000);
  // The server holds one descriptor per idle tunnel (the device's connection: a public
  // port listens only while the device is rented), so the open-file limit, which only
  // CAP_SYS_RESOURCE may raise, can be what caps the count rather than the gateway.
  const fileLimit = raiseFileLimit(wanted + 1_000);
  const total = Math.min(wanted, fileLimit - 500);
  if (total < wanted) log(`open-file limit ${fileLimit}: measuring ${total} tunnels instead of ${wanted}`);
  const steps = [Math.min(1_000, total), total].filter((n, i, all) => all.indexOf(n) === i);
  const idleWindowMs = Number(process.env.BENCH_IDLE_WINDOW_MS ?? 15_000);
  const opensshTunnels = Number(process.env.BENCH_OPENSSH_TUNNELS ?? 300);
  const portBase = Number(process.env.BENCH_PORT_BASE ?? 9990);
  const rows: IdleRow[] = [];
  const children = new Set<ChildProcess>();
  const dataDir = mkdtempSync(join(tmpdir(), 'p2pvps-idle-bench-'));

  const spawnChild = (file: string, env: Record<string, string> = {}): ChildProcess => {
    const child = fork(join(here, 'idle-tunnels', file), {
      execArgv: [
        '--import',
        'tsx',
        '--expose-gc',
        '--max-old-space-size=4096',
        ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      ],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  };
  const serverEnv = {
    BENCH_SERVER_ENV: JSON.stringify({
      P2PVPS_DATA_DIR: dataDir,
      P2PVPS_HTTP_HOST: '127.0.0.1',
      P2PVPS_HTTP_PORT: String(portBase + 1),
      P2PVPS_GATEWAY_HOST: '127.0.0.1',
      P2PVPS_GATEWAY_PORT: String(portBase),
      P2PVPS_PUBLIC_BIND_HOST: '127.0.0.1',
      P2PVPS_SSH_HOST: '127.0.0.1',
      P2PVPS_SSH_PORT_RANGE: `${portBase + 10}-${portBase + 10 + total - 1}`,
      P2PVPS_LOG_LEVEL: 'error',
      // Every simulated device dials from 127.0.0.1; real ones each have their own address:
      // the per-source handshake cap is raised and the per-source penalties (for connections
      // that time out or close before logging in, which a server busy after a restart causes)
      // are off, or the one shared address would be refused for all 10,000 at once.
      P2PVPS_GATEWAY_MAX_STARTUPS_PER_SOURCE: '256',
      P2PVPS_GATEWAY_PENALTIES: 'off',
    }),
  };

  try {
    // Each device process makes its own devices' keys, as each device does.
    const devices = Array.from({ length: deviceProcesses }, () => spawnChild('device-process.ts'));
    const share = (i: number) => Math.floor(total / deviceProcesses) + (i < total % deviceProcesses ? 1 : 0);
    let next = 0;
    const keygenStart = performance.now();
    const keyed = await Promise.all(
      devices.map((child, i) => {
        const specs: DeviceSpec[] = Array.from({ length: share(i) }, () => {
          const n = next++;
          return { deviceId: `bench${String(n).padStart(6, '0')}`, sshPort: portBase + 10 + n };
        });
        const done = reply<FromDevices, 'keys'>(child, 'keys', 120_000);
        send<ToDevices>(child, { type: 'keys', devices: specs });
        return done.then((r) => r.publicKeys.map((k, j) => ({ ...k, sshPort: specs[j]!.sshPort })));
      }),
    );
    const keygenMs = performance.now() - keygenStart;
    const seeder = spawnChild('server-process.ts', { ...serverEnv, BENCH_SEED_ONLY: '1' });
    const seeded = reply<FromServer, 'seeded'>(seeder, 'seeded', 120_000);
    const seederExited = once(seeder, 'exit');
    send<ToServer>(seeder, { type: 'seed', devices: keyed.flat() });
    await seeded;
    await seederExited;
    log(`${total} devices: keys in ${(keygenMs / 1000).toFixed(1)} s over ${deviceProcesses} processes, seeded`);

    let server = spawnChild('server-process.ts', serverEnv);
    const ready = await reply<FromServer, 'ready'>(server, 'ready', 60_000);
    const gateway = { host: '127.0.0.1', port: ready.gatewayPort, hostKey: ready.hostKey };

    await sleep(1_000);
    const baseline = await stats(server);
    let heldAll = 0;
    let previous: { n: number; rss: number } | undefined;
    for (const n of steps) {
      const t0 = performance.now();
      devices.forEach((child, i) => {
        const count = Math.floor(n / deviceProcesses) + (i < n % deviceProcesses ? 1 : 0);
        send<ToDevices>(child, { type: 'start', count, perTick: 1, gateway });
      });
      const online = await waitOnline(server, n, 120_000);
      log(`${online}/${n} tunnels up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      heldAll = online;
      if (online < n) break;
      // Let the handshakes' garbage and timers settle before calling it idle.
      await sleep(3_000);
      const before = await stats(server);
      await sleep(idleWindowMs);
      const after = await stats(server);
      if (previous) {
        // What one more tunnel costs, free of the one-off growth (V8's young generation, JIT code) in the first step.
        const marginal = (after.rss - previous.rss) / (n - previous.n);
        rows.push({
          metric: `server memory per additional idle tunnel (RSS), ${previous.n} → ${n}`,
          path: 'p2pvps',
          value: kb(marginal),
          unit: 'KB',
          target: '≤ 30',
          met: marginal <= 30 * 1024,
        });
      }
      previous = { n, rss: after.rss };
      const perTunnelRss = (after.rss - baseline.rss) / n;
      const cpuPerTunnel = (after.cpuMicros - before.cpuMicros) / (idleWindowMs / 1000) / n;
      rows.push(
        {
          metric: `server memory per idle tunnel (RSS) @${n}`,
          path: 'p2pvps',
          value: kb(perTunnelRss),
          unit: 'KB',
          target: '≤ 30',
          met: perTunnelRss <= 30 * 1024,
        },
        { metric: `server JS heap per idle tunnel @${n}`, path: 'p2pvps', value: kb((after.heapUsed - baseline.heapUsed) / n), unit: 'KB' },
        {
          metric: `server idle CPU per tunnel @${n}`,
          path: 'p2pvps',
          value: Math.round(cpuPerTunnel * 100) / 100,
          unit: 'µs CPU/s',
          note: `${((cpuPerTunnel * n) / 10_000).toFixed(2)} % of one core for all ${n}, over ${idleWindowMs / 1000} s`,
        },
      );
    }
    rows.push({
      metric: 'idle tunnels held by one server',
      path: 'p2pvps',
      value: heldAll,
      unit: 'tunnels',
      target: `${wanted}`,
      met: heldAll >= wanted,
      ...(total < wanted && { note: `capped at ${total} by this machine's open-file hard limit ${fileLimit} (1 per idle tunnel)` }),
    });

    if (heldAll >= total) {
      // Restart: kill -9, start again on the same data, wait for every device to come back.
      const killedAt = Date.now();
      server.kill('SIGKILL');
      await once(server, 'exit');
      server = spawnChild('server-process.ts', { ...serverEnv, BENCH_SAMPLE_ONLINE: '1' });
      const again = await reply<FromServer, 'ready'>(server, 'ready', 60_000);
      const back = await waitOnline(server, total, 90_000);
      const allBackAt = Date.now();
      send<ToServer>(server, { type: 'timeline' });
      const { samples } = await reply<FromServer, 'timeline'>(server, 'timeline', 10_000);
      log(`after the restart, tunnels up by second since the kill: ${perSecond(samples, killedAt).join(' ')}`);
      const deviceStates = await Promise.all(
        devices.map((child) => {
          const r = reply<FromDevices, 'state'>(child, 'state', 10_000);
          send<ToDevices>(child, { type: 'state' });
          return r;
        }),
      );
      const devicesUp = deviceStates.reduce((a, s) => a + s.up, 0);
      const reconnects = deviceStates.reduce((a, s) => a + s.reconnects, 0);
      const fromKill = (allBackAt - killedAt) / 1000;
      rows.push(
        {
          metric: `all ${total} tunnels back after a server kill -9 and restart`,
          path: 'p2pvps',
          value: back >= total ? Math.round(fromKill * 10) / 10 : Number.NaN,
          unit: 's',
          target: '≤ 60',
          met: back >= total && fromKill <= 60,
          note: `${back} back; server process up ${((again.readyAt - killedAt) / 1000).toFixed(1)} s after the kill; devices report ${devicesUp} up`,
        },
        { metric: 'peak tunnel handshake rate after restart', path: 'p2pvps', value: peakRate(samples), unit: 'tunnels/s (1 s window)' },
        {
          metric: 'device connection attempts that failed, whole run',
          path: 'p2pvps',
          value: reconnects,
          unit: 'attempts',
          note: 'refused while the server was down or throttled; each is one TCP connect or a cheap refusal',
        },
      );
    }
    rows.push({
      metric: 'Ed25519 key generation per device (wall time × processes / keys)',
      path: 'p2pvps',
      value: Math.round((keygenMs * deviceProcesses * 1000) / total) / 1000,
      unit: 'ms',
    });
  } finally {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }

  if (opensshTunnels > 0) rows.push(...(await measureOpenSsh(opensshTunnels, portBase - opensshTunnels - 10)));
  return rows;
}

function log(msg: string): void {
  console.error(`[idle-tunnels] ${msg}`);
}

function send<T>(child: ChildProcess, msg: T): void {
  child.send(msg as object);
}

/** The child's next message of this type; rejects if it exits or takes too long. */
function reply<M extends { type: string }, K extends M['type']>(
  child: ChildProcess,
  type: K,
  timeoutMs: number,
): Promise<Extract<M, { type: K }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no '${type}' from ${child.spawnfile} within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (msg: M) => {
      if (msg.type === type) finish(null, msg as Extract<M, { type: K }>);
    };
    const onExit = (code: number | null) => finish(new Error(`bench child exited (${code}) while waiting for '${type}'`));
    const finish = (err: Error | null, msg?: Extract<M, { type: K }>) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(msg!);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

async function stats(server: ChildProcess): Promise<ServerStats> {
  const r = reply<FromServer, 'stats'>(server, 'stats', 30_000);
  send<ToServer>(server, { type: 'stats' });
  return (await r).stats;
}

async function waitOnline(server: ChildProcess, n: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let online = 0;
  while (Date.now() < deadline) {
    const r = reply<FromServer, 'online'>(server, 'online', 10_000);
    send<ToServer>(server, { type: 'online' });
    online = (await r).online;
    if (online >= n) break;
    await sleep(100);
  }
  return online;
}

/** The count at the end of each whole second after `from`. */
function perSecond(samples: [number, number][], from: number): number[] {
  const out: number[] = [];
  for (const [t, online] of samples) out[Math.floor((t - from) / 1000)] = online;
  for (let i = 0; i < out.length; i++) out[i] ??= out[i - 1] ?? 0;
  return out;
}

/** Most tunnels that came up within any one second. */
function peakRate(samples: [number, number][]): number {
  let peak = 0;
  for (let i = 0, j = 0; i < samples.length; i++) {
    while (samples[i]![0] - samples[j]![0] > 1_000) j++;
    const base = j > 0 ? samples[j - 1]![1] : 0;
    peak = Math.max(peak, samples[i]![1] - base);
  }
  return peak;
}

/** Raises this process's open-file limit, which the children inherit; returns the limit in force. */
function raiseFileLimit(needed: number): number {
  const hard = () => Number(/^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 1024);
  if (hard() < needed) spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${needed}:${needed}`], { stdio: 'ignore' });
  return hard();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const rows = await runIdleTunnelBench();
  console.table(rows.map((r) => ({ ...r, value: `${r.value} ${r.unit}`, unit: undefined })));
}
