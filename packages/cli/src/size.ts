/**
 * Byte sizes as people type them (`512M`, `2G`, `1.5GiB`) and read them (`4.0 GiB`).
 * Units are binary: M means MiB, because that is how memory and disks are reported by
 * the devices.
 */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;
const MULTIPLIERS: Record<string, bigint> = { K: 1n << 10n, M: 1n << 20n, G: 1n << 30n, T: 1n << 40n, P: 1n << 50n };

export class SizeFormatError extends Error {
  override name = 'SizeFormatError';
}

/** Parses `512M`, `2G`, `2GiB`, `1.5G` or a plain byte count into bytes. */
export function parseSize(text: string): number {
  const input = text.trim();
  const match = /^(\d+)(?:\.(\d+))?\s*(?:([KMGTP])(?:i?B)?|B)?$/i.exec(input);
  if (!match) throw new SizeFormatError(`"${text}" is not a size; give a number with an optional unit, like 512M or 2G`);
  const [, whole = '0', fraction = '', unit] = match;
  if (fraction !== '' && unit === undefined) {
    throw new SizeFormatError(`"${text}" has a fraction of a byte; give whole bytes or a unit, like 1.5G`);
  }
  const multiplier = unit === undefined ? 1n : (MULTIPLIERS[unit.toUpperCase()] ?? 1n);
  const scale = 10n ** BigInt(fraction.length);
  const bytes = (BigInt(whole + fraction) * multiplier) / scale;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new SizeFormatError(`"${text}" is too large`);
  return Number(bytes);
}

/** `4294967296` → `4.0 GiB`; below 1 KiB the exact byte count. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let unit = 0;
  let value = bytes;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  // 1023.97 MiB would print as "1024.0 MiB"; move up a unit instead.
  if (Number(value.toFixed(1)) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`;
}
