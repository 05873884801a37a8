/**
 * Converting on-chain amounts to marketplace micro-units with bigint math only.
 *
 * A rate is an exact decimal string: marketplace currency per ONE WHOLE coin ("3000.00"
 * USD per ETH; "1" per USDC). An amount is in the coin's base units (wei; 10^-6 USDC).
 *
 *   micros = floor(baseUnits × rate × 10^6 / 10^decimals)
 *
 * computed as one exact fraction, rounded down once, at the end: the renter is never
 * credited a fraction of a micro-unit the rail did not receive, and dust below one
 * micro-unit is credited as 0.
 */
export interface ExactRate {
  /** The rate × 10^scale, e.g. "3000.00" → 300000n with scale 2. */
  readonly scaled: bigint;
  readonly scale: number;
}

const MICROS_PER_UNIT = 1_000_000n;

export function parseRate(text: string): ExactRate {
  const match = /^(\d{1,30})(?:\.(\d{1,30}))?$/.exec(text);
  if (!match) throw new Error(`A rate must be a plain decimal like "3000.00", got ${JSON.stringify(text)}.`);
  const fraction = match[2] ?? '';
  const scaled = BigInt(match[1]! + fraction);
  if (scaled === 0n) throw new Error(`A rate must be greater than zero, got ${JSON.stringify(text)}.`);
  return { scaled, scale: fraction.length };
}

export function toMicros(baseUnits: bigint, decimals: number, rate: ExactRate): bigint {
  if (baseUnits < 0n) throw new RangeError('An amount cannot be negative.');
  return (baseUnits * rate.scaled * MICROS_PER_UNIT) / 10n ** BigInt(decimals + rate.scale);
}

/** Base units as a decimal string without trailing zeros: 1500000000000000000n, 18 → "1.5". */
export function formatUnits(baseUnits: bigint, decimals: number): string {
  const whole = baseUnits / 10n ** BigInt(decimals);
  const fraction = (baseUnits % 10n ** BigInt(decimals)).toString().padStart(decimals, '0').replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : `${whole}`;
}
