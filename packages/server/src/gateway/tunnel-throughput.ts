import type { Duplex } from 'node:stream';

export interface ThroughputWindow {
  /** Left out of the figure: the first bytes fill socket buffers and token buckets at line rate. */
  warmupMs: number;
  /** Timed after the warm-up. */
  windowMs: number;
}

export const defaultThroughputWindow: ThroughputWindow = { warmupMs: 1_000, windowMs: 2_000 };

/**
 * The server's own measurement of a device's uplink through its tunnel: it writes the
 * challenge's nonce on a benchmark channel, the agent answers with bytes for as long as the
 * channel is open, and the server counts what arrives in a window after a warm-up. Mbit/s,
 * or null if the agent sent nothing (it refused the channel or the nonce).
 */
export function measureThroughput(channel: Duplex, nonce: string, window = defaultThroughputWindow): Promise<number | null> {
  return new Promise((resolve) => {
    let firstAt: number | null = null;
    let mark: { at: number; bytes: number } | null = null;
    let bytes = 0;
    let done = false;
    const finish = (result: number | null) => {
      if (done) return;
      done = true;
      clearTimeout(giveUp);
      channel.removeAllListeners('data');
      channel.destroy();
      resolve(result);
    };
    // Nothing within the warm-up and the window: the agent is not sending.
    const giveUp = setTimeout(() => finish(null), window.warmupMs + window.windowMs + 5_000);
    channel.on('data', (chunk: Buffer) => {
      const now = performance.now();
      bytes += chunk.length;
      firstAt ??= now;
      if (mark === null && now - firstAt >= window.warmupMs) mark = { at: now, bytes };
      if (mark !== null && now - mark.at >= window.windowMs) finish(((bytes - mark.bytes) * 8) / ((now - mark.at) / 1000) / 1e6);
    });
    channel.on('error', () => finish(null));
    channel.on('close', () => finish(null));
    channel.write(`${nonce}\n`);
  });
}
