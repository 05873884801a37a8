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
 * Environment: BENCH_TUNNEL_PORT_BASE (23100, clear of the gateway tests' 21000–21999; uses the 30 ports above it),
 * BENCH_WRK_SECONDS (5), BENCH_WRK_CONNECTIONS (50), BENCH_THROUGHPUT_SECONDS (2 per run),
 * BENCH_SETUP_RUNS (20), BENCH_MIN_TRANSFER_MIB (1024), BENCH_ROUNDS (3: every figure is the median of this many rounds, with
 * the spread), BENCH_THROUGHPUT_RUNS (1 per round), BENCH_QUIET_WAIT_SECONDS (60), BENCH_TUNNEL_PARTS (throughput,http,setup), BENCH_CPU_PROF (a directory: the server and device processes
 * write V8 CPU profiles there), BENCH_P2PVPS_HTTP (front-door | device-port), BENCH_DIRECTIONS (upload,download: throughput in one direction alone, for profiling), BENCH_WINDOW_PROF (a directory: a CPU profile of
 * each HTTP phase alone, per process), BENCH_WINDOW_ALLOC (a directory: a sampled allocation profile of each HTTP phase, garbage included), BENCH_NODE_ARGS (more node flags for the server and device, e.g. --trace-gc),
 * BENCH_WINDOW_MARKS (a line on stdout where each HTTP phase starts and ends, among --trace-gc's), BENCH_LOOP_STALL_MS (list each
 * phase's event-loop stalls longer than this many ms). Each HTTP phase logs the server's and the device's event-loop delay and write syscalls per request.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { hasAesInstructions } from '@p2pvps/agent/tunnel-cipher';
import { machineBusy, waitForPort } from './tunnel/net.ts';
import { cpuSeconds, message, Processes, processTree } from './tunnel/processes.ts';
import { startNginx, pageBytes } from './tunnel/nginx.ts';
import { startStockSshd } from './tunnel/openssh.ts';
import { startP2pvps, type P2pvps } from './tunnel/p2pvps.ts';
import { minTransferMiB } from './tunnel/measure.ts';
import { measureRound, type HttpRoute, type RoundSetup } from './tunnel/round.ts';
import { printTunnelResult } from './report.ts';
import { combineRounds, roundRatios, type PathId, type Round, type Target, type TunnelBenchResult } from './tunnel/result.ts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const log = (msg: string) => console.error(`[tunnel] ${msg}`);
const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');

export async function runTunnelBench(): Promise<TunnelBenchResult> {
  const base = env('BENCH_TUNNEL_PORT_BASE', 23_100);
  const wrkSeconds = env('BENCH_WRK_SECONDS', 5);
  const connections = env('BENCH_WRK_CONNECTIONS', 50);
  const throughputSeconds = env('BENCH_THROUGHPUT_SECONDS', 2);
  const setupRuns = env('BENCH_SETUP_RUNS', 20);
  const rounds = Math.max(1, env('BENCH_ROUNDS', 3));
  // Each round repeats the throughput runs: one per round is enough for the median over rounds.
  const throughputRuns = env('BENCH_THROUGHPUT_RUNS', 1);
  const quietWaitSeconds = env('BENCH_QUIET_WAIT_SECONDS', 60);
  const parts = new Set((process.env.BENCH_TUNNEL_PARTS ?? 'throughput,http,setup').split(','));
  const setupMetric = `tunnel setup, median of ${setupRuns}`;
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
    // CPU used by each tunnel's own processes (not the client, origin or nginx): on two
    // cores the paths are CPU-bound, so this says what limits each one.
    const tunnelCpu: Partial<Record<PathId, () => number>> = {
      openssh: () => cpuSeconds([...processTree(sshd.pid), sshTunnel.pid!]),
      p2pvps: () => cpuSeconds(p2pvps.pids),
    };
    const throughputPort: Record<PathId, number> = { raw: ports.origin, openssh: ports.sshThroughput, p2pvps: p2pvps.devicePort };
    const setup: RoundSetup = {
      processes,
      sshd,
      p2pvps,
      ports: { origin: ports.origin, nginx: ports.nginx, sshSetup: ports.sshSetup },
      throughputPort,
      http,
      httpRoute,
      tunnelCpu,
      parts,
      wrkSeconds,
      connections,
      throughputSeconds,
      throughputRuns,
      setupRuns,
      setupMetric,
      log,
    };
    const measured: Round[] = [];
    for (let r = 1; r <= rounds; r++) {
      log(`round ${r} of ${rounds}`);
      measured.push(await measureRound(setup));
    }
    const { figures, extra } = combineRounds(measured);

    const figure = (metric: string) => figures.find((f) => f.metric === metric);
    const value = (metric: string, path: PathId) => figure(metric)?.values[path] ?? Number.NaN;
    // Ratios within each round, then their median: both paths saw the same background load.
    const ratio = (metric: string) => {
      const f = figure(metric);
      return f ? roundRatios(f, 'p2pvps', 'openssh') : { median: Number.NaN, min: Number.NaN, max: Number.NaN };
    };
    const x = (r: { median: number; min: number; max: number }) => `${r.median.toFixed(2)}× (${r.min.toFixed(2)}–${r.max.toFixed(2)})`;
    const up = ratio('single stream upload');
    const down = ratio('single stream download');
    const cpuUp = ratio('tunnel CPU per GB, upload');
    const cpuDown = ratio('tunnel CPU per GB, download');
    const ka = ratio('HTTP keep-alive');
    const kaP99 = value('HTTP keep-alive p99', 'p2pvps');
    const pc = ratio('HTTP new connection per request');
    const pcP99 = ratio('HTTP new connection per request p99');
    const setupMs = value(setupMetric, 'p2pvps');
    const targets: Target[] = [
      {
        name: 'single stream ≥ 1.2× OpenSSH, up and down',
        met: up.median >= 1.2 && down.median >= 1.2,
        detail: `upload ${x(up)}, download ${x(down)}`,
      },
      {
        name: 'tunnel CPU per GB ≤ 0.9× OpenSSH, up and down',
        met: cpuUp.median <= 0.9 && cpuDown.median <= 0.9,
        detail: `upload ${x(cpuUp)}, download ${x(cpuDown)}`,
      },
      {
        name: 'new connection per request ≥ 1.5× OpenSSH, p99 below OpenSSH',
        met: pc.median >= 1.5 && pcP99.median < 1,
        detail: `${x(pc)}; p99 ${x(pcP99)} of OpenSSH's`,
      },
      {
        name: 'keep-alive ≥ 3× OpenSSH with p99 ≤ 8 ms',
        met: ka.median >= 3 && kaP99 <= 8,
        detail: `${x(ka)}, p99 ${kaP99.toFixed(2)} ms`,
      },
      { name: 'setup ≤ 30 ms median', met: setupMs <= 30, detail: `${setupMs.toFixed(1)} ms` },
    ];

    const busyAfter = await machineBusy();
    const method = [
      `Rounds: ${rounds}, one after another in the same processes; each figure is the median of the rounds, with the spread (lowest–highest) and every round's value; a ratio to OpenSSH is taken within each round and the median of those ratios is shown.`,
      `Other load: all CPUs ${(busy * 100).toFixed(0)} % busy just before the bench started, ${measured.map((m) => `${(m.busyBefore * 100).toFixed(0)} %`).join(', ')} before each round, ${(busyAfter * 100).toFixed(0)} % just after it finished; load average ${loadAverage()} at the end (anything well above 0 % busy means the figures are skewed).`,
      `OpenSSH: ${sshd.version}; stock sshd on 127.0.0.1 with its own config (account ${'p2pvps-bench'}: key-only, AllowTcpForwarding remote, PermitOpen none, PermitListen on the bench ports, ForceCommand /bin/false, PermitTTY no, GatewayPorts no, UsePAM no); client \`ssh -N -R\` with default crypto: negotiated ${sshAlgorithms.kex}, ${sshAlgorithms.cipher}.`,
      `p2pvps: the real startServer (SQLite, tunnel gateway, API and front doors) in one process, the agent's real TunnelClient in another; the device enrolled, listed and rented through the API; negotiated ${p2pvpsAlgorithms.kex}, ${p2pvpsAlgorithms.cipher} (the agent's own choice on this CPU: AES instructions ${hasAesInstructions(readFileSync('/proc/cpuinfo', 'utf8')) ? 'present' : 'absent'}). The cipher rows force aes128-gcm and then chacha20-poly1305 on a new tunnel each and move ${minTransferMiB()} MiB each way after a 128 MiB warm-up. HTTP goes in through ${httpRoute === 'front-door' ? `the HTTP front door (Host: ${p2pvps.webHost}) to the device's port 80` : "the device's public port"}.`,
      `Throughput origin: a Node sink/source in its own process; single TCP stream, client in the bench process; a 256 MiB warm-up per path sizes its runs to about ${throughputSeconds} s each (at least ${minTransferMiB()} MiB), then ${throughputRuns} run${throughputRuns === 1 ? '' : 's'} per round taking the paths in turn; MB = 10^6 bytes. A download is timed to its last byte with the origin keeping the connection open (see the integrity rows for origins that close at once).`,
      `HTTP origin: ${nginx.version} (1 worker, access log off, keep-alive unlimited) serving a ${pageBytes}-byte static file; \`wrk -t1 -c${connections} -d${wrkSeconds}s --latency\` after a 1 s warm-up; new connection per request adds \`-H 'Connection: close'\`.`,
      `Setup: from spawning \`ssh -N -R\` (OpenSSH) or starting a new TunnelClient in the running device process (p2pvps) until a TCP connect to the public port succeeds (polled every 1 ms); the previous tunnel is closed and its port refuses first.`,
    ];
    return { figures, targets, method, extra, rounds, openSshVersion: sshd.version };
  } finally {
    // The server and device first, given time to close cleanly (and write CPU profiles).
    await started?.stop();
    await processes.stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  printTunnelResult(await runTunnelBench());
}
