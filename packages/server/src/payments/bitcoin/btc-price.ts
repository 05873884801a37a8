/**
 * The exchange rate between bitcoin and the marketplace currency, and the conversion of a
 * deposit's satoshis into the ledger's micro-units. Everything is bigint: a rate like
 * "65000.00" is kept as the exact fraction 6500000/100, never as a float.
 */

const satsPerBtc = 100_000_000n;
const microsPerUnit = 1_000_000n;

/** Marketplace currency units per 1 BTC, as an exact fraction numerator/denominator. */
export interface BtcPrice {
  readonly numerator: bigint;
  readonly denominator: bigint;
  /** The decimal string it was parsed from, for logs and statements. */
  readonly text: string;
}

/**
 * Parses a price such as "65000.00" or "65000" (marketplace currency units per BTC). Refuses
 * signs, exponents, separators and zero, with a message that says what is expected.
 */
export function parseBtcPrice(text: string): BtcPrice {
  const match = /^(\d{1,15})(?:\.(\d{1,18}))?$/.exec(text.trim());
  if (!match) {
    throw new RangeError(
      `The BTC price must be a plain decimal number of currency units per BTC, such as "65000.00", not ${JSON.stringify(text)}.`,
    );
  }
  const fraction = match[2] ?? '';
  const numerator = BigInt(match[1]! + fraction);
  if (numerator === 0n) throw new RangeError('The BTC price must be greater than zero.');
  return { numerator, denominator: 10n ** BigInt(fraction.length), text: text.trim() };
}

/**
 * Converts satoshis to micro-units of the marketplace currency at the given price, rounding
 * DOWN to the micro-unit: a deposit is never credited more than it is worth, and the at most
 * one micro-unit lost per deposit stays with the marketplace.
 */
export function satsToMicros(sats: bigint, price: BtcPrice): bigint {
  if (sats < 0n) throw new RangeError(`satoshis cannot be negative (${sats})`);
  // micros = sats / satsPerBtc * price * microsPerUnit; one division at the end keeps it exact.
  return (sats * price.numerator * microsPerUnit) / (satsPerBtc * price.denominator);
}

/** "0.00150000": satoshis as BTC with all eight decimals, for statements. */
export function formatBtc(sats: bigint): string {
  const whole = sats / satsPerBtc;
  const rest = (sats % satsPerBtc).toString().padStart(8, '0');
  return `${whole}.${rest}`;
}
