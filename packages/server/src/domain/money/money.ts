/**
 * Money arithmetic on bigint micro-units (1 unit of the currency = 1,000,000). No floating
 * point: every division rounds down, and totals are computed cumulatively from whole
 * counts (see `chargeForMinutes`), so remainders are carried, never lost or invented.
 */
export const microsPerUnit = 1_000_000n;

/** The total due for `minutes` whole minutes at `pricePerHour`: floor(price × minutes / 60). */
export function chargeForMinutes(pricePerHourMicros: bigint, minutes: bigint): bigint {
  return (pricePerHourMicros * minutes) / 60n;
}

/** The marketplace's share of `charged` at `feeBps` basis points (1% = 100), rounded down. */
export function feeOf(chargedMicros: bigint, feeBps: bigint): bigint {
  return (chargedMicros * feeBps) / 10_000n;
}

/** Micro-units as a decimal amount, rounded half up to `places`: 12345678n → `12.35 USD`. */
export function formatMoney(micros: bigint, currency: string, places = 2): string {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const scale = 10n ** BigInt(6 - places);
  const rounded = (abs + scale / 2n) / scale;
  const unit = 10n ** BigInt(places);
  const frac = places > 0 ? `.${(rounded % unit).toString().padStart(places, '0')}` : '';
  return `${negative ? '-' : ''}${rounded / unit}${frac} ${currency}`;
}
