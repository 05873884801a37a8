import { spawn } from 'node:child_process';
import net from 'node:net';
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { loopback, median } from './net.ts';

const MiB = 1 << 20;
const chunk = randomFillSync(Buffer.alloc(MiB));

export type Direction = 'upload' | 'download';

/** The directions a run measures: both, unless BENCH_DIRECTIONS names one (to profile one direction alone). */
export const directions = (): Direction[] =>
  (['upload', 'download'] as Direction[]).filter((d) => (process.env.BENCH_DIRECTIONS ?? 'upload,download').split(',').includes(d));

/** The least a timed transfer moves: 1 GiB, unless BENCH_MIN_TRANSFER_MIB says less (for trying the bench out quickly). */
export const minTransferMiB = () => Number(process.env.BENCH_MIN_TRANSFER_MIB ?? 1024);

/**
 * One stream through `port` to the throughput origin: `upload` sends `bytes` and waits for
 * the origin's one-byte receipt; `download` asks for `bytes` and reads them all (the
 * origin keeps the connection open; with `originCloses` it hangs up right after the last
 * byte). Returns MB/s (10^6 bytes) over the whole exchange, connection setup included.
 */
export function transfer(port: number, direction: Direction, bytes: number, originCloses = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = net.connect({ host: loopback, port, noDelay: true });
    const head = Buffer.alloc(9);
    head[0] = (direction === 'upload' ? 'U' : originCloses ? 'E' : 'D').charCodeAt(0);
    head.writeDoubleBE(bytes, 1);
    let received = 0;
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      const seconds = (performance.now() - t0) / 1000;
      socket.destroy();
      if (err) reject(err);
      else resolve(bytes / 1e6 / seconds);
    };
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(new Error(`${direction} through port ${port} closed after ${received} of ${bytes} bytes`)));
    socket.once('connect', async () => {
      socket.write(head);
      if (direction === 'download') return;
      let left = bytes;
      while (left > 0 && !socket.destroyed) {
        const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= piece.length;
        // Should the connection fail meanwhile, 'close' settles the transfer and this loop is abandoned.
        if (!socket.write(piece)) await new Promise((r) => socket.once('drain', r));
      }
    });
    socket.on('data', (data: Buffer) => {
      received += data.length;
      if (direction === 'upload' ? received >= 1 : received >= bytes) finish();
    });
  });
}

/** How many of `runs` downloads of `bytes`, each ended by the origin right after its last byte, arrive whole. */
export async function completeDownloads(port: number, bytes: number, runs: number): Promise<number> {
  let whole = 0;
  for (let i = 0; i < runs; i++) {
    try {
      await transfer(port, 'download', bytes, true);
      whole++;
    } catch {
      // Counted as not whole.
    }
  }
  return whole;
}

/**
 * Single-stream throughput one way through each of `ports`: a 256 MiB warm-up per port
 * sizes its runs to about `seconds` each (never less than 1 GiB), then `runs` rounds that
 * take the ports in turn, so a burst of background load does not fall on one path alone.
 * The median per port, and, for ports with a `cpu` meter (CPU seconds used so far by
 * the path's own processes), the CPU seconds it spent per GB.
 */
export async function throughput<K extends string>(
  ports: Record<K, number>,
  direction: Direction,
  cpu: Partial<Record<K, () => number>> = {},
  seconds = 2,
  runs = 3,
): Promise<{ mbps: Record<K, number>; cpuPerGB: Partial<Record<K, number>> }> {
  const keys = Object.keys(ports) as K[];
  const sizes = {} as Record<K, number>;
  for (const k of keys) {
    const warm = await transfer(ports[k], direction, 256 * MiB);
    sizes[k] = Math.max(minTransferMiB() * MiB, Math.round((warm * 1e6 * seconds) / MiB) * MiB);
  }
  const results = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  const cpuUsed = Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
  for (let i = 0; i < runs; i++) {
    for (const k of keys) {
      const before = cpu[k]?.() ?? 0;
      results[k].push(await transfer(ports[k], direction, sizes[k]));
      cpuUsed[k] += (cpu[k]?.() ?? 0) - before;
    }
  }
  const mbps = Object.fromEntries(keys.map((k) => [k, median(results[k])])) as Record<K, number>;
  const cpuPerGB = Object.fromEntries(keys.filter((k) => cpu[k]).map((k) => [k, cpuUsed[k] / ((sizes[k] * runs) / 1e9)])) as Partial<
    Record<K, number>
  >;
  return { mbps, cpuPerGB };
}

export interface WrkResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Socket errors and non-2xx/3xx replies; a run with any is suspect. */
  errors: number;
  raw: string;
}

export interface WrkOptions {
  url: string;
  host?: string;
  /** Adds `Connection: close`: a new TCP connection (and tunnel channel) per request. */
  closeEach?: boolean;
  connections: number;
  threads: number;
  seconds: number;
}

export function wrk(o: WrkOptions): Promise<WrkResult> {
  const args = ['-t', String(o.threads), '-c', String(o.connections), '-d', `${o.seconds}s`, '--latency', '--timeout', '5s'];
  if (o.host) args.push('-H', `Host: ${o.host}`);
  if (o.closeEach) args.push('-H', 'Connection: close');
  args.push(o.url);
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`wrk ${args.join(' ')} exited ${code}: ${out}`));
      try {
        resolve(parseWrk(out));
      } catch (err) {
        reject(err);
      }
    });
  });
}

export function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const requests = /(\d+) requests in/.exec(out);
  if (!rps || !requests) throw new Error(`could not read wrk's output:\n${out}`);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
    if (!m) return Number.NaN;
    return Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 } as const)[m[2] as 'us' | 'ms' | 's'];
  };
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const errors = (socketErrors ? socketErrors.slice(1).reduce((a, n) => a + Number(n), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  return { requestsPerSecond: Number(rps[1]), p50Ms: pct('50'), p99Ms: pct('99'), requests: Number(requests[1]), errors, raw: out };
}
