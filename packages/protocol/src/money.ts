/**
 * Money on the wire is integer micro-units of the server's currency (1 unit = 1,000,000
 * micros). People type and read decimals, so the conversion is done on strings: a float
 * round trip would turn 0.07 into 69999 micros.
 */

export const MICROS_PER_UNIT = 1_000_000;
/** The protocol's upper bound for an amount (schemas.ts `Micros`). */
export const MAX_MICROS = 1_000_000_000_000;

const DECIMALS = 6;

export class MoneyFormatError extends Error {
  override name = 'MoneyFormatError';
}

/** Parses a decimal amount like `0.05` or `12` into micro-units. */
export function parseMoney(text: string): number {
  const input = text.trim();
  if (input === '') throw new MoneyFormatError('the amount is empty; give a decimal like 0.05');
  if (input.startsWith('-')) throw new MoneyFormatError(`"${text}" is negative; give an amount of 0 or more`);
  const match = /^(\d*)(?:\.(\d+))?$/.exec(input);
  if (!match || (match[1] === '' && match[2] === undefined)) {
    throw new MoneyFormatError(`"${text}" is not a decimal amount; give digits with an optional point, like 0.05`);
  }
  const whole = match[1] ?? '';
  const fraction = match[2] ?? '';
  if (fraction.length > DECIMALS) {
    throw new MoneyFormatError(`"${text}" has more than ${DECIMALS} decimals; the smallest step is 0.000001`);
  }
  const micros = BigInt(whole === '' ? '0' : whole) * BigInt(MICROS_PER_UNIT) + BigInt(fraction.padEnd(DECIMALS, '0'));
  if (micros > BigInt(MAX_MICROS)) {
    throw new MoneyFormatError(`"${text}" is too large; the most is ${formatMicros(MAX_MICROS)}`);
  }
  return Number(micros);
}

/** Formats micro-units as a decimal with at least two and at most six decimals: 50000 → `0.05`. */
export function formatMicros(micros: number): string {
  if (!Number.isSafeInteger(micros)) throw new RangeError(`not an amount of micro-units: ${micros}`);
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(micros);
  const whole = Math.floor(abs / MICROS_PER_UNIT);
  const fraction = String(abs - whole * MICROS_PER_UNIT)
    .padStart(DECIMALS, '0')
    .replace(/0+$/, '')
    .padEnd(2, '0');
  return `${sign}${whole}.${fraction}`;
}

/** `0.05 USD`; the currency is the server's (`GET /api/v1/server`), never assumed. */
export function formatMoney(micros: number, currency: string): string {
  return `${formatMicros(micros)} ${currency}`;
}
