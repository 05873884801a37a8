import { readFileSync } from 'node:fs';
import net from 'node:net';

export const loopback = '127.0.0.1';
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** True when a TCP connection to 127.0.0.1:port is accepted; the connection is closed at once. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: loopback, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Waits until 127.0.0.1:port accepts, polling every `everyMs`; gives up when `alive()` turns false. */
export async function waitForPort(port: number, timeoutMs: number, alive: () => boolean = () => true, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`the process meant to listen on ${port} exited`);
    if (await accepts(port)) return;
    await sleep(everyMs);
  }
  throw new Error(`nothing accepted on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

/** Waits until 127.0.0.1:port refuses connections. */
export async function waitForPortClosed(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await accepts(port))) return;
    await sleep(10);
  }
  throw new Error(`127.0.0.1:${port} still accepts after ${timeoutMs} ms`);
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** The share of all CPUs busy over `ms`, from /proc/stat: other work on the machine skews every figure. */
export async function machineBusy(ms = 1_000): Promise<number> {
  const sample = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3]! + (f[4] ?? 0);
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = sample();
  await sleep(ms);
  const b = sample();
  return b.total === a.total ? 0 : 1 - (b.idle - a.idle) / (b.total - a.total);
}
