import { createHash } from 'node:crypto';
import type { BenchmarkFigures } from './benchmark.ts';

// Apart from benchmark.ts, which the dashboard's bundle imports through schemas.ts: this needs Node's crypto.

/** The text the device signs: it binds the figures to this device and this one challenge. */
export function benchmarkSigningText(deviceId: string, nonce: string, figures: BenchmarkFigures): string {
  // Keys sorted: the same figures hash the same whatever order each side built them in.
  const hash = createHash('sha256')
    .update(JSON.stringify(figures, Object.keys(figures).sort()))
    .digest('hex');
  return `p2pvps-benchmark-v1\n${deviceId}\n${nonce}\n${hash}`;
}
