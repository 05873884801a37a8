/**
 * One round of the tunnel bench (bench/tunnel.ts runs several and reports the median):
 * single-stream throughput, both tunnel ciphers side by side, HTTP keep-alive and a new
 * connection per request, and tunnel setup, each path in turn.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { TunnelCipherChoice } from '@p2pvps/agent/tunnel-cipher';
import { accepts, machineBusy, median, sleep, waitForPortClosed } from './net.ts';
import { cpuSeconds, type Processes } from './processes.ts';
import { completeDownloads, directions, minTransferMiB, throughput, transfer, wrk, type WrkResult } from './measure.ts';
import type { P2pvps } from './p2pvps.ts';
import type { LoopDelayResult } from './loop-delay.ts';
import type { startStockSshd } from './openssh.ts';
import { pathNames, type Extra, type Figure, type PathId, type Round } from './result.ts';

export type HttpRoute = 'front-door' | 'device-port';

export interface RoundSetup {
  processes: Processes;
  sshd: Awaited<ReturnType<typeof startStockSshd>>;
  p2pvps: P2pvps;
  ports: { origin: number; nginx: number; sshSetup: number };
  throughputPort: Record<PathId, number>;
  http: Record<PathId, { url: string; host?: string }>;
  httpRoute: HttpRoute;
  /** CPU seconds used so far by each tunnel's own processes. */
  tunnelCpu: Partial<Record<PathId, () => number>>;
  parts: ReadonlySet<string>;
  wrkSeconds: number;
  connections: number;
  throughputSeconds: number;
  throughputRuns: number;
  setupRuns: number;
  setupMetric: string;
  log: (msg: string) => void;
}

const paths: PathId[] = ['raw', 'openssh', 'p2pvps'];
/** The ciphers compared on p2pvps's own tunnel: what a Pi 5 (or this machine) and a Pi 4 would use. */
const comparedCiphers: TunnelCipherChoice[] = ['aes128-gcm', 'chacha20-poly1305'];

export async function measureRound(s: RoundSetup): Promise<Round> {
  const { p2pvps, ports, log } = s;
  const busyBefore = await machineBusy();
  const figures: Figure[] = [];
  const extra: Extra[] = [];
  /** Points the device's public port (and so its SSH-port channels) at `localPort` through a new tunnel. */
  const reroute = async (localPort: number, cipher?: TunnelCipherChoice) => {
    await p2pvps.stopTunnel();
    await waitForPortClosed(p2pvps.devicePort, 5_000);
    const up = p2pvps.nextUp();
    p2pvps.restartTunnel(localPort, cipher);
    return up;
  };

  if (s.parts.has('throughput')) {
    for (const direction of directions()) {
      const { mbps, cpuPerGB } = await throughput(s.throughputPort, direction, s.tunnelCpu, s.throughputSeconds, s.throughputRuns);
      for (const path of paths) log(`${direction} ${pathNames[path]}: ${mbps[path]!.toFixed(0)} MB/s`);
      figures.push(
        { metric: `single stream ${direction}`, unit: 'MB/s', better: 'higher', values: mbps },
        { metric: `tunnel CPU per GB, ${direction}`, unit: 'CPU-s', better: 'lower', values: cpuPerGB },
      );
    }
    // Correctness, not speed: a download the origin ends right after its last byte (as
    // `cat file | nc` or an HTTP/1.0 server does) must arrive whole.
    const integrityRuns = 5;
    for (const path of directions().includes('download') ? paths : []) {
      const whole = await completeDownloads(s.throughputPort[path], 64 << 20, integrityRuns);
      extra.push({
        metric: `${pathNames[path]}: 64 MiB downloads the origin closes at once, arriving whole (of ${integrityRuns})`,
        value: whole,
        unit: '',
      });
      if (whole < integrityRuns) log(`${pathNames[path]}: only ${whole} of ${integrityRuns} downloads ended by the origin arrived whole`);
    }
    extra.push(...(await compareCiphers(s, reroute)));
    await reroute(ports.origin);
  }

  if (s.parts.has('http')) figures.push(...(await measureHttp(s, extra, reroute)));

  if (s.parts.has('setup')) {
    // From the device starting to connect until the public port accepts.
    const sshSetup: number[] = [];
    for (let i = 0; i < s.setupRuns; i++) {
      const t0 = performance.now();
      const child = s.sshd.tunnel([{ remotePort: ports.sshSetup, localPort: ports.origin }]);
      await pollUntilAccepting(ports.sshSetup, () => child.exitCode === null);
      sshSetup.push(performance.now() - t0);
      await s.processes.stop(child);
      await waitForPortClosed(ports.sshSetup, 5_000);
    }
    log(`setup OpenSSH: median ${median(sshSetup).toFixed(1)} ms`);
    const p2pvpsSetup: number[] = [];
    for (let i = 0; i < s.setupRuns; i++) {
      await p2pvps.stopTunnel();
      await waitForPortClosed(p2pvps.devicePort, 5_000);
      const up = p2pvps.nextUp();
      const t0 = performance.now();
      p2pvps.restartTunnel(ports.origin);
      await pollUntilAccepting(p2pvps.devicePort, () => true);
      p2pvpsSetup.push(performance.now() - t0);
      await up;
    }
    log(`setup p2pvps: median ${median(p2pvpsSetup).toFixed(1)} ms`);
    figures.push({
      metric: s.setupMetric,
      unit: 'ms',
      better: 'lower',
      values: { openssh: median(sshSetup), p2pvps: median(p2pvpsSetup) },
    });
  }
  return { figures, extra, busyBefore };
}

/**
 * p2pvps's single stream each way with each cipher forced in turn, one tunnel after the
 * other, with the server's and the agent's CPU per GB apart (the agent's is what a Pi pays).
 */
async function compareCiphers(
  s: RoundSetup,
  reroute: (port: number, cipher?: TunnelCipherChoice) => Promise<{ cipher: string }>,
): Promise<Extra[]> {
  const out: Extra[] = [];
  for (const choice of comparedCiphers) {
    const { cipher } = await reroute(s.ports.origin, choice);
    for (const direction of directions()) {
      await transfer(s.p2pvps.devicePort, direction, 128 << 20); // warm-up
      const server0 = cpuSeconds([s.p2pvps.serverPid]);
      const agent0 = cpuSeconds([s.p2pvps.devicePid]);
      const writes0 = writeSyscalls(s.p2pvps.serverPid) + writeSyscalls(s.p2pvps.devicePid);
      const bytes = minTransferMiB() << 20;
      const mbps = await transfer(s.p2pvps.devicePort, direction, bytes);
      const gb = bytes / 1e9;
      out.push(
        { metric: `p2pvps ${direction}, cipher ${cipher}`, value: mbps, unit: 'MB/s' },
        {
          metric: `p2pvps ${direction}, cipher ${cipher}: agent CPU per GB`,
          value: (cpuSeconds([s.p2pvps.devicePid]) - agent0) / gb,
          unit: 'CPU-s',
        },
        {
          metric: `p2pvps ${direction}, cipher ${cipher}: server CPU per GB`,
          value: (cpuSeconds([s.p2pvps.serverPid]) - server0) / gb,
          unit: 'CPU-s',
        },
        {
          metric: `p2pvps ${direction}, cipher ${cipher}: write syscalls per MB, server and agent`,
          value: (writeSyscalls(s.p2pvps.serverPid) + writeSyscalls(s.p2pvps.devicePid) - writes0) / (gb * 1000),
          unit: 'writes',
        },
      );
      s.log(`${direction} p2pvps with ${cipher}: ${mbps.toFixed(0)} MB/s`);
    }
  }
  return out;
}

async function measureHttp(s: RoundSetup, extra: Extra[], reroute: (port: number) => Promise<unknown>): Promise<Figure[]> {
  const { http, p2pvps, log } = s;
  if (s.httpRoute === 'device-port') await reroute(s.ports.nginx);
  const cpuPerRequest: Record<'keepAlive' | 'perConnection', Figure['values']> = { keepAlive: {}, perConnection: {} };
  const runWrk = async (path: PathId, closeEach: boolean, target = http[path]): Promise<WrkResult> => {
    const options = { ...target, closeEach, connections: s.connections, threads: 1 };
    await wrk({ ...options, seconds: 1 }); // warm-up: JIT, connection pools, caches
    const before = s.tunnelCpu[path]?.() ?? 0;
    const writes = () => [writeSyscalls(p2pvps.serverPid), writeSyscalls(p2pvps.devicePid)];
    const writes0 = writes();
    if (path === 'p2pvps') p2pvps.startLoopDelay();
    const r = await wrk({ ...options, seconds: s.wrkSeconds });
    const used = (s.tunnelCpu[path]?.() ?? 0) - before;
    if (path === 'p2pvps') {
      const perRequest = writes().map((w, i) => ((w - writes0[i]!) / r.requests).toFixed(2));
      const loop = await p2pvps.stopLoopDelay();
      const where = target === http[path] ? s.httpRoute : 'device-port';
      log(
        `p2pvps ${where} ${closeEach ? 'new connection each' : 'keep-alive'}: ${((used / r.requests) * 1e6).toFixed(0)} µs tunnel CPU per request; write syscalls per request: server ${perRequest[0]}, device ${perRequest[1]}`,
      );
      const line = (who: string, l: LoopDelayResult) =>
        `${who} (pid ${l.pid}, heap ${l.heapMB} MB) loop delay p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms, max ${l.maxMs} ms; stalls [at ms, late ms]: ${JSON.stringify(l.stalls.slice(0, 40))}`;
      log(`p2pvps ${where} ${closeEach ? 'new connection each' : 'keep-alive'}: ${line('server', loop.server)}`);
      log(`p2pvps ${where} ${closeEach ? 'new connection each' : 'keep-alive'}: ${line('device', loop.device)}`);
    }
    if (s.tunnelCpu[path] && target === http[path])
      cpuPerRequest[closeEach ? 'perConnection' : 'keepAlive'][path] = (used / r.requests) * 1e6;
    if (r.errors > 0) log(`${pathNames[path]}: wrk saw ${r.errors} errors\n${r.raw}`);
    return r;
  };
  const keepAlive: Partial<Record<PathId, WrkResult>> = {};
  const perConnection: Partial<Record<PathId, WrkResult>> = {};
  for (const path of paths) {
    const r = (keepAlive[path] = await runWrk(path, false));
    log(`keep-alive ${pathNames[path]}: ${r.requestsPerSecond.toFixed(0)} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms`);
  }
  for (const path of paths) {
    const r = (perConnection[path] = await runWrk(path, true));
    log(`connection per request ${pathNames[path]}: ${r.requestsPerSecond.toFixed(0)} req/s, p99 ${r.p99Ms} ms`);
  }
  const pick = (results: Partial<Record<PathId, WrkResult>>, f: (r: WrkResult) => number) =>
    Object.fromEntries(Object.entries(results).map(([p, r]) => [p, f(r)])) as Figure['values'];
  const figures: Figure[] = [
    { metric: 'HTTP keep-alive', unit: 'req/s', better: 'higher', values: pick(keepAlive, (r) => r.requestsPerSecond) },
    { metric: 'HTTP keep-alive p50', unit: 'ms', better: 'lower', values: pick(keepAlive, (r) => r.p50Ms) },
    { metric: 'HTTP keep-alive p99', unit: 'ms', better: 'lower', values: pick(keepAlive, (r) => r.p99Ms) },
    { metric: 'HTTP new connection per request', unit: 'req/s', better: 'higher', values: pick(perConnection, (r) => r.requestsPerSecond) },
    { metric: 'HTTP new connection per request p99', unit: 'ms', better: 'lower', values: pick(perConnection, (r) => r.p99Ms) },
    { metric: 'tunnel CPU per request, keep-alive', unit: 'µs', better: 'lower', values: cpuPerRequest.keepAlive },
    { metric: 'tunnel CPU per request, new connection each', unit: 'µs', better: 'lower', values: cpuPerRequest.perConnection },
  ];
  if (s.httpRoute === 'front-door') {
    // The same through the device's public port, without the front door: what the front door costs.
    await reroute(s.ports.nginx);
    const bare = { url: `http://127.0.0.1:${p2pvps.devicePort}/` };
    const k = await runWrk('p2pvps', false, bare);
    const c = await runWrk('p2pvps', true, bare);
    extra.push(
      { metric: 'p2pvps without the front door (device port): HTTP keep-alive', value: k.requestsPerSecond, unit: 'req/s' },
      { metric: 'p2pvps without the front door (device port): HTTP keep-alive p99', value: k.p99Ms, unit: 'ms' },
      { metric: 'p2pvps without the front door (device port): new connection per request', value: c.requestsPerSecond, unit: 'req/s' },
      { metric: 'p2pvps without the front door (device port): new connection per request p99', value: c.p99Ms, unit: 'ms' },
    );
    log(
      `p2pvps device port: keep-alive ${k.requestsPerSecond.toFixed(0)} req/s p99 ${k.p99Ms} ms, per connection ${c.requestsPerSecond.toFixed(0)} req/s`,
    );
  }
  await reroute(s.ports.origin);
  return figures;
}

/** Connects every millisecond until the port accepts. */
async function pollUntilAccepting(port: number, alive: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await accepts(port)) return;
    if (!alive()) throw new Error(`the tunnel for port ${port} exited before it was up`);
    await sleep(1);
  }
  throw new Error(`port ${port} did not accept within ${timeoutMs} ms`);
}

/** Write syscalls a process has made so far (/proc/PID/io): unlike CPU time, other load on the machine does not change it. */
function writeSyscalls(pid: number): number {
  try {
    return Number(/^syscw: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}
