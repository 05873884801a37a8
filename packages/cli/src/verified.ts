import type { HardwareVerification } from '@p2pvps/protocol/benchmark';
import { formatSize } from './size.ts';

/**
 * The server's measurements of a device beside its claims, in one cell: each figure the
 * benchmark checked, `!` where it fell short of the claim. "not yet" before a benchmark ran.
 */
export function formatVerified(v: HardwareVerification | null | undefined): string {
  if (!v) return 'not yet';
  const mark = (ok: boolean) => (ok ? '' : '!');
  const parts = [
    `${v.cores.measured ?? '?'} cores${mark(v.cores.ok)}`,
    `${formatSize(v.memoryBytes.measured ?? 0)} touched${mark(v.memoryBytes.ok)}`,
    `disk ${formatSize(v.diskBytes.measured ?? 0)}${mark(v.diskBytes.ok)}`,
  ];
  if (v.tunnelMbit !== null) parts.push(`${v.tunnelMbit} Mbit/s${mark(v.bandwidthMbit.ok)}`);
  return parts.join(', ');
}
