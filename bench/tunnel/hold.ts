/**
 * The bench's nginx, p2pvps server and device, started as bench/tunnel.ts starts them and
 * held for HOLD_SECONDS (60), so that strace, perf or wrk can be pointed at them by hand:
 * prints `{ serverPid, devicePid, webHost, port }` (the HTTP front door's port) on stdout.
 *
 *   BENCH_TUNNEL_PORT_BASE=24500 node --import tsx bench/tunnel/hold.ts
 *   wrk -t1 -c50 -d5s -H "Host: <webHost>" -H 'Connection: close' http://127.0.0.1:<port>/
 *   strace -f -c -p <serverPid>
 *
 * BENCH_CPU_PROF (a directory) makes the server and device write V8 CPU profiles on exit.
 */
import { Processes } from './processes.ts';
import { startNginx } from './nginx.ts';
import { startP2pvps } from './p2pvps.ts';

const base = Number(process.env.BENCH_TUNNEL_PORT_BASE ?? 23_100);
const holdMs = Number(process.env.HOLD_SECONDS ?? 60) * 1000;
const processes = new Processes();
await startNginx(processes, base);
const p2pvps = await startP2pvps(
  processes,
  { http: base + 10, https: base + 11, gateway: base + 12, device: base + 20 },
  base + 1,
  base,
  process.env.BENCH_CPU_PROF,
);
console.log(
  JSON.stringify({ serverPid: p2pvps.serverPid, devicePid: p2pvps.devicePid, webHost: p2pvps.webHost, port: p2pvps.frontDoorPort }),
);
await new Promise((resolve) => setTimeout(resolve, holdMs));
await p2pvps.stop();
await processes.stopAll();
process.exit(0);
