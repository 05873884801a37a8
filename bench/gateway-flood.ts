/**
 * Device login latency at the tunnel gateway, with and without one host flooding it with
 * idle connections (the audit's H4): N device logins (TCP connect to logged in) with no
 * flood, then N more while a second process keeps FLOOD connections open from another
 * address and opens a new one whenever the gateway drops one. Prints p50/p99 of both, the
 * logins that failed, and what the gateway's pre-login defences did.
 *
 *   node --import tsx bench/gateway-flood.ts [N] [FLOOD]      (defaults: 50 logins, 2000 connections)
 *
 * Everything is on loopback: the gateway and the device on 127.0.0.1, the flood from
 * 127.0.0.2 (Linux accepts any 127/8 source). The gateway runs with its defaults, as the
 * server starts it. Logins are spaced by SPACING_MS (100) so the flood phase spans the
 * version-line deadline (5 s) and the first penalties.
 *
 * FLOOD_REOPEN=1 makes the flood open a new connection whenever the gateway drops one (the
 * audit's probe, but at once rather than every 28 s): not idle any more, so it also costs
 * the accept loop. BENCH_GATEWAY_MODULE loads another tunnel-gateway.ts (an older one,
 * for comparison).
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ssh2 from 'ssh2';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import type { TunnelGateway as Gateway } from '../packages/server/src/gateway/tunnel-gateway.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (process.argv[2] === '--flood') await flood(Number(process.argv[3]), Number(process.argv[4]));
else await main(Number(process.argv[2] ?? 50), Number(process.argv[3] ?? 2_000));

async function main(logins: number, floodSize: number): Promise<void> {
  const spacingMs = Number(process.env.SPACING_MS ?? 100);
  const keys = generateEd25519KeyPair('device@bench');
  const deviceId = 'dev_flood_bench';
  const override = process.env.BENCH_GATEWAY_MODULE;
  const moduleUrl = override
    ? pathToFileURL(resolve(override)).href
    : new URL('../packages/server/src/gateway/tunnel-gateway.ts', import.meta.url).href;
  const { TunnelGateway } = (await import(moduleUrl)) as { TunnelGateway: typeof Gateway };
  const gateway = new TunnelGateway({
    hostKey: generateEd25519KeyPair('gateway@bench').private,
    publicBindHost: '127.0.0.1',
    lookupDevice: async (id) => (id === deviceId ? { deviceId, publicKey: keys.public, sshPort: 0, publicPortOpen: false } : null),
  });
  const port = await gateway.listen(0, '127.0.0.1');

  const measure = async () => {
    const times: number[] = [];
    const failures: string[] = [];
    for (let i = 0; i < logins; i++) {
      const started = performance.now();
      const outcome = await login(port, deviceId, keys.private);
      if (outcome === 'ready') times.push(performance.now() - started);
      else failures.push(outcome);
      await sleep(spacingMs);
    }
    return { times, failures };
  };

  // Warm-up (JIT, ssh2's first key exchange), not counted.
  for (let i = 0; i < 5; i++) await login(port, deviceId, keys.private);
  const quiet = await measure();

  const child = fork(fileURLToPath(import.meta.url), ['--flood', String(port), String(floodSize)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [ready] = (await once(child, 'message')) as [{ opened: number; held: number }];
  console.error(`[flood] ${ready.opened} connections opened from 127.0.0.2, ${ready.held} of them still open`);
  const flooded = await measure();
  child.send('report');
  const [last] = (await once(child, 'message')) as [{ opened: number; held: number }];
  child.kill();
  // An older gateway (BENCH_GATEWAY_MODULE) has no such figures.
  const stats = typeof gateway.admissionStats === 'function' ? gateway.admissionStats() : null;
  await gateway.close();

  const row = (name: string, r: { times: number[]; failures: string[] }) =>
    `${name.padEnd(26)} ${fmt(percentile(r.times, 50)).padStart(8)} ${fmt(percentile(r.times, 99)).padStart(8)} ${`${r.failures.length}/${logins}`.padStart(8)}` +
    (r.failures.length ? `  (${[...new Set(r.failures)].join(', ')})` : '');
  const kind = process.env.FLOOD_REOPEN === '1' ? 're-opening' : 'idle';
  console.log(`\nDevice logins at the tunnel gateway (${logins} each, ${spacingMs} ms apart; ${kind} flood from one address)\n`);
  console.log(`${''.padEnd(26)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'failed'.padStart(8)}`);
  console.log(row('no flood', quiet));
  console.log(row(`${floodSize}-connection flood`, flooded));
  console.log(
    `\nflood: ${last.opened} connections opened in all, ${last.held} open at the end` +
      (stats
        ? `; gateway: ${stats.refusedPerSource} refused per source, ${stats.refusedEarlyDrop} early drops, ` +
          `${stats.refusedFull} full, ${stats.refusedPenalised} refused while penalised`
        : ''),
  );
}

function login(port: number, username: string, privateKey: string): Promise<string> {
  const client = new ssh2.Client();
  return new Promise((resolve) => {
    client.once('ready', () => {
      client.end();
      resolve('ready');
    });
    client.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    client.connect({ host: '127.0.0.1', port, username, privateKey, readyTimeout: 10_000 });
  });
}

/** The attacker: keeps `size` idle connections from 127.0.0.2, opening a new one whenever one is dropped. */
async function flood(port: number, size: number): Promise<void> {
  let opened = 0;
  const live = new Set<net.Socket>();
  let stopping = false;
  const reopen = process.env.FLOOD_REOPEN === '1';
  const open = (): Promise<void> =>
    new Promise((resolve) => {
      opened++;
      const socket = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
      socket.on('error', () => {});
      socket.resume();
      live.add(socket);
      socket.once('connect', () => resolve());
      socket.once('close', () => {
        live.delete(socket);
        resolve();
        // As the audit's probe does, only faster: the slot is taken again at once (after a breath, not in a spin).
        if (reopen && !stopping) setTimeout(() => void open(), 20);
      });
    });
  for (let i = 0; i < size; i += 200) await Promise.all(Array.from({ length: Math.min(200, size - i) }, open));
  await sleep(200);
  process.send?.({ opened, held: live.size });
  process.on('message', () => {
    stopping = true;
    process.send?.({ opened, held: live.size });
  });
}

function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function fmt(ms: number): string {
  return Number.isNaN(ms) ? '—' : ms.toFixed(1);
}
