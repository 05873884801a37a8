/**
 * Tunnel performance, three paths side by side in one run, all on 127.0.0.1:
 *
 *   raw      client → origin (the loopback limit)
 *   openssh  client → stock sshd's remote-forward port → `ssh -N -R` → origin
 *   p2pvps   client → the server's public port for the device (HTTP: the HTTP front door,
 *            by Host) → tunnel gateway → the agent's TunnelClient → origin
 *
 * Origins: a Node sink/source for single-stream throughput, Debian's nginx for HTTP (wrk).
 * Every process it starts (nginx, sshd, ssh, the server, the device) is stopped at the end.
 *
 *   node --import tsx bench/tunnel.ts      (or `npm run bench` for everything)
 *
 * Environment: BENCH_TUNNEL_PORT_BASE (21000; uses the 30 ports above it),
 * BENCH_WRK_SECONDS (5), BENCH_WRK_CONNECTIONS (50), BENCH_THROUGHPUT_SECONDS (2 per run),
 * BENCH_SETUP_RUNS (20), BENCH_QUIET_WAIT_SECONDS (60), BENCH_TUNNEL_PARTS (throughput,http,setup), BENCH_CPU_PROF (a directory: the server and device processes
 * write V8 CPU profiles there), BENCH_P2PVPS_HTTP (front-door | device-port).
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { accepts, machineBusy, median, sleep, waitForPort, waitForPortClosed } from './tunnel/net.ts';
import { cpuSeconds, message, Processes, processTree } from './tunnel/processes.ts';
import { startNginx, pageBytes } from './tunnel/nginx.ts';
import { startStockSshd } from './tunnel/openssh.ts';
import { startP2pvps, type P2pvps } from './tunnel/p2pvps.ts';
import { completeDownloads, throughput, wrk, type Direction, type WrkResult } from './tunnel/measure.ts';
import { printTunnelResult } from './report.ts';
import { pathNames, type Figure, type PathId, type Target, type TunnelBenchResult } from './tunnel/result.ts';

/**
 * Where p2pvps's HTTP figures go in. The HTTP front door (routing by Host to the device's
 * port 80 through the tunnel) is what visitors of a device's web name use; `device-port`
 * measures the bare tunnel instead, through the device's public port.
 */
type HttpRoute = 'front-door' | 'device-port';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const log = (msg: string) => console.error(`[tunnel] ${msg}`);

export async function runTunnelBench(): Promise<TunnelBenchResult> {
  const base = env('BENCH_TUNNEL_PORT_BASE', 21_000);
  const wrkSeconds = env('BENCH_WRK_SECONDS', 5);
  const connections = env('BENCH_WRK_CONNECTIONS', 50);
  const throughputSeconds = env('BENCH_THROUGHPUT_SECONDS', 2);
  const setupRuns = env('BENCH_SETUP_RUNS', 20);
  const quietWaitSeconds = env('BENCH_QUIET_WAIT_SECONDS', 60);
  const parts = new Set((process.env.BENCH_TUNNEL_PARTS ?? 'throughput,http,setup').split(','));
  const setupMetric = `tunnel setup, median of ${setupRuns}`;
  const paths: PathId[] = ['raw', 'openssh', 'p2pvps'];
  const httpRoute: HttpRoute = process.env.BENCH_P2PVPS_HTTP === 'device-port' ? 'device-port' : 'front-door';
  const ports = {
    nginx: base,
    origin: base + 1,
    sshd: base + 2,
    sshThroughput: base + 3,
    sshHttp: base + 4,
    sshSetup: base + 5,
    p2pvps: { http: base + 10, https: base + 11, gateway: base + 12, device: base + 20 },
  };

  const processes = new Processes();
  let started: P2pvps | undefined;
  const onSignal = () => void processes.stopAll().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // Other work on the machine skews every figure: wait a little for quiet, and say so if it never comes.
    let busy = await machineBusy();
    for (let waited = 0; busy > 0.15 && waited < quietWaitSeconds; waited += 2) {
      if (waited === 0)
        log(`the machine is ${(busy * 100).toFixed(0)} % busy before the bench; waiting up to ${quietWaitSeconds} s for it to settle`);
      busy = await machineBusy(2_000);
    }
    if (busy > 0.15) log(`WARNING: the machine is ${(busy * 100).toFixed(0)} % busy with other work; these figures will be low and noisy`);
    log('starting origins, sshd, ssh -R, the p2pvps server and device');
    const origin = processes.fork(new URL('./tunnel/origin-process.ts', import.meta.url), { BENCH_ORIGIN_PORT: String(ports.origin) });
    await message(origin, 'ready');
    const nginx = await startNginx(processes, ports.nginx);
    const sshd = await startStockSshd(processes, ports.sshd, [ports.sshThroughput, ports.sshHttp, ports.sshSetup]);
    const sshTunnel = sshd.tunnel([
      { remotePort: ports.sshThroughput, localPort: ports.origin },
      { remotePort: ports.sshHttp, localPort: ports.nginx },
    ]);
    await waitForPort(ports.sshHttp, 10_000, () => sshTunnel.exitCode === null);
    await waitForPort(ports.sshThroughput, 10_000, () => sshTunnel.exitCode === null);
    const p2pvps = (started = await startP2pvps(processes, ports.p2pvps, ports.origin, ports.nginx, process.env.BENCH_CPU_PROF));
    const [sshAlgorithms, p2pvpsAlgorithms] = await Promise.all([sshd.negotiated(), p2pvps.negotiated]);

    const http: Record<PathId, { url: string; host?: string }> = {
      raw: { url: `http://127.0.0.1:${ports.nginx}/` },
      openssh: { url: `http://127.0.0.1:${ports.sshHttp}/` },
      p2pvps:
        httpRoute === 'front-door'
          ? { url: `http://127.0.0.1:${p2pvps.frontDoorPort}/`, host: p2pvps.webHost }
          : { url: `http://127.0.0.1:${p2pvps.devicePort}/` },
    };
    // In device-port mode the device's public port must lead to nginx, not the throughput origin.
    const reroute = async (localPort: number) => {
      await p2pvps.stopTunnel();
      await waitForPortClosed(p2pvps.devicePort, 5_000);
      const up = p2pvps.nextUp();
      p2pvps.restartTunnel(localPort);
      await up;
    };
    // CPU used by each tunnel's own processes (not the client, origin or nginx): on two
    // cores the paths are CPU-bound, so this says what limits each one.
    const tunnelCpu: Partial<Record<PathId, () => number>> = {
      openssh: () => cpuSeconds([...processTree(sshd.pid), sshTunnel.pid!]),
      p2pvps: () => cpuSeconds(p2pvps.pids),
    };
    const throughputPort: Record<PathId, number> = { raw: ports.origin, openssh: ports.sshThroughput, p2pvps: p2pvps.devicePort };
    const figures: Figure[] = [];
    const extra: TunnelBenchResult['extra'] = [];

    if (parts.has('throughput')) {
      for (const direction of ['upload', 'download'] as Direction[]) {
        const { mbps, cpuPerGB } = await throughput(throughputPort, direction, tunnelCpu, throughputSeconds);
        for (const path of paths) log(`${direction} ${pathNames[path]}: ${mbps[path]!.toFixed(0)} MB/s`);
        figures.push(
          { metric: `single stream ${direction}`, unit: 'MB/s', better: 'higher', values: mbps },
          { metric: `tunnel CPU per GB, ${direction}`, unit: 'CPU-s', better: 'lower', values: cpuPerGB },
        );
      }
      // Correctness, not speed: a download the origin ends right after its last byte (as
      // \`cat file | nc\` or an HTTP/1.0 server does) must arrive whole.
      const integrityRuns = 5;
      for (const path of paths) {
        const whole = await completeDownloads(throughputPort[path], 64 << 20, integrityRuns);
        extra.push({
          metric: `${pathNames[path]}: 64 MiB downloads the origin closes at once, arriving whole (of ${integrityRuns})`,
          value: whole,
          unit: '',
        });
        if (whole < integrityRuns) log(`${pathNames[path]}: only ${whole} of ${integrityRuns} downloads ended by the origin arrived whole`);
      }
    }

    if (parts.has('http')) {
      if (httpRoute === 'device-port') await reroute(ports.nginx);
      const cpuPerRequest: Record<'keepAlive' | 'perConnection', Figure['values']> = { keepAlive: {}, perConnection: {} };
      const runWrk = async (path: PathId, closeEach: boolean, target = http[path]): Promise<WrkResult> => {
        const options = { ...target, closeEach, connections, threads: 1 };
        await wrk({ ...options, seconds: 1 }); // warm-up: JIT, connection pools, caches
        const before = tunnelCpu[path]?.() ?? 0;
        const r = await wrk({ ...options, seconds: wrkSeconds });
        const used = (tunnelCpu[path]?.() ?? 0) - before;
        if (tunnelCpu[path] && target === http[path])
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
      figures.push(
        { metric: 'HTTP keep-alive', unit: 'req/s', better: 'higher', values: pick(keepAlive, (r) => r.requestsPerSecond) },
        { metric: 'HTTP keep-alive p50', unit: 'ms', better: 'lower', values: pick(keepAlive, (r) => r.p50Ms) },
        { metric: 'HTTP keep-alive p99', unit: 'ms', better: 'lower', values: pick(keepAlive, (r) => r.p99Ms) },
        {
          metric: 'HTTP new connection per request',
          unit: 'req/s',
          better: 'higher',
          values: pick(perConnection, (r) => r.requestsPerSecond),
        },
        { metric: 'HTTP new connection per request p99', unit: 'ms', better: 'lower', values: pick(perConnection, (r) => r.p99Ms) },
        { metric: 'tunnel CPU per request, keep-alive', unit: 'µs', better: 'lower', values: cpuPerRequest.keepAlive },
        { metric: 'tunnel CPU per request, new connection each', unit: 'µs', better: 'lower', values: cpuPerRequest.perConnection },
      );

      if (httpRoute === 'front-door') {
        // The same through the device's public port, without the front door: what the front door costs.
        await reroute(ports.nginx);
        const bare = { url: `http://127.0.0.1:${p2pvps.devicePort}/` };
        const k = await runWrk('p2pvps', false, bare);
        const c = await runWrk('p2pvps', true, bare);
        extra.push(
          { metric: 'p2pvps without the front door (device port): HTTP keep-alive', value: k.requestsPerSecond, unit: 'req/s' },
          { metric: 'p2pvps without the front door (device port): HTTP keep-alive p99', value: k.p99Ms, unit: 'ms' },
          { metric: 'p2pvps without the front door (device port): new connection per request', value: c.requestsPerSecond, unit: 'req/s' },
        );
        log(
          `p2pvps device port: keep-alive ${k.requestsPerSecond.toFixed(0)} req/s p99 ${k.p99Ms} ms, per connection ${c.requestsPerSecond.toFixed(0)} req/s`,
        );
      }
      await reroute(ports.origin);
    }

    if (parts.has('setup')) {
      // From the device starting to connect until the public port accepts.
      const sshSetup: number[] = [];
      for (let i = 0; i < setupRuns; i++) {
        const t0 = performance.now();
        const child = sshd.tunnel([{ remotePort: ports.sshSetup, localPort: ports.origin }]);
        await pollUntilAccepting(ports.sshSetup, () => child.exitCode === null);
        sshSetup.push(performance.now() - t0);
        await processes.stop(child);
        await waitForPortClosed(ports.sshSetup, 5_000);
      }
      log(`setup OpenSSH: median ${median(sshSetup).toFixed(1)} ms`);
      const p2pvpsSetup: number[] = [];
      for (let i = 0; i < setupRuns; i++) {
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
        metric: setupMetric,
        unit: 'ms',
        better: 'lower',
        values: { openssh: median(sshSetup), p2pvps: median(p2pvpsSetup) },
      });
    }

    const value = (metric: string, path: PathId) => figures.find((f) => f.metric === metric)?.values[path] ?? Number.NaN;
    const ratio = (metric: string) => value(metric, 'p2pvps') / value(metric, 'openssh');
    const x = (n: number) => `${n.toFixed(2)}×`;
    const up = ratio('single stream upload');
    const down = ratio('single stream download');
    const ka = ratio('HTTP keep-alive');
    const kaP99 = value('HTTP keep-alive p99', 'p2pvps');
    const pc = ratio('HTTP new connection per request');
    const setup = value(setupMetric, 'p2pvps');
    const targets: Target[] = [
      { name: 'throughput ≥ 1.1× OpenSSH', met: up >= 1.1 && down >= 1.1, detail: `upload ${x(up)}, download ${x(down)}` },
      {
        name: 'keep-alive req/s ≥ 1.3× OpenSSH with p99 ≤ 8 ms',
        met: ka >= 1.3 && kaP99 <= 8,
        detail: `${x(ka)}, p99 ${kaP99.toFixed(2)} ms`,
      },
      { name: 'connection-per-request ≥ 2.5× OpenSSH', met: pc >= 2.5, detail: x(pc) },
      { name: 'setup ≤ 30 ms median', met: setup <= 30, detail: `${setup.toFixed(1)} ms` },
    ];

    const busyAfter = await machineBusy();
    const method = [
      `Other load: all CPUs ${(busy * 100).toFixed(0)} % busy just before the bench started, ${(busyAfter * 100).toFixed(0)} % just after it finished (anything well above 0 % means the figures are skewed).`,
      `OpenSSH: ${sshd.version}; stock sshd on 127.0.0.1 with its own config (account ${'p2pvps-bench'}: key-only, AllowTcpForwarding remote, PermitOpen none, PermitListen on the bench ports, ForceCommand /bin/false, PermitTTY no, GatewayPorts no, UsePAM no); client \`ssh -N -R\` with default crypto: negotiated ${sshAlgorithms.kex}, ${sshAlgorithms.cipher}.`,
      `p2pvps: the real startServer (SQLite, tunnel gateway, API and front doors) in one process, the agent's real TunnelClient in another; the device enrolled, listed and rented through the API; negotiated ${p2pvpsAlgorithms.kex}, ${p2pvpsAlgorithms.cipher}. HTTP goes in through ${httpRoute === 'front-door' ? `the HTTP front door (Host: ${p2pvps.webHost}) to the device's port 80` : "the device's public port"}.`,
      `Throughput origin: a Node sink/source in its own process; single TCP stream, client in the bench process; a 256 MiB warm-up per path sizes its runs to about ${throughputSeconds} s each (at least 1 GiB), then 3 rounds taking the paths in turn, median; MB = 10^6 bytes. A download is timed to its last byte with the origin keeping the connection open (see the integrity rows for origins that close at once).`,
      `HTTP origin: ${nginx.version} (1 worker, access log off, keep-alive unlimited) serving a ${pageBytes}-byte static file; \`wrk -t1 -c${connections} -d${wrkSeconds}s --latency\` after a 1 s warm-up; new connection per request adds \`-H 'Connection: close'\`.`,
      `Setup: from spawning \`ssh -N -R\` (OpenSSH) or starting a new TunnelClient in the running device process (p2pvps) until a TCP connect to the public port succeeds (polled every 1 ms); the previous tunnel is closed and its port refuses first.`,
    ];
    return { figures, targets, method, extra, openSshVersion: sshd.version };
  } finally {
    // The server and device first, given time to close cleanly (and write CPU profiles).
    await started?.stop();
    await processes.stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
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

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  printTunnelResult(await runTunnelBench());
}
