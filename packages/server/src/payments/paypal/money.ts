/**
 * Exact conversion between the marketplace's bigint micro-units (1 unit = 1,000,000) and
 * PayPal's amount strings ("10.00" USD, "1000" JPY). No floating point: a value is split
 * into digits and scaled as a bigint.
 *
 * An amount PayPal cannot express (1.234567 USD has more digits than USD's two) is REFUSED,
 * never rounded: a top-up is charged exactly what the renter asked for, and the credit is
 * exactly what PayPal captured. Callers that want to offer the next chargeable amount use
 * `chargeableAtLeast` and show it to the renter before creating the order.
 */

/** Digits after the decimal point PayPal accepts per currency (PayPal's currency-code table). */
export const payPalCurrencyDecimals = {
  USD: 2,
  EUR: 2,
  GBP: 2,
  CAD: 2,
  AUD: 2,
  CHF: 2,
  JPY: 0,
} as const;

export type PayPalCurrency = keyof typeof payPalCurrencyDecimals;

export const payPalCurrencies = Object.keys(payPalCurrencyDecimals) as PayPalCurrency[];

export function isPayPalCurrency(currency: string): currency is PayPalCurrency {
  return Object.hasOwn(payPalCurrencyDecimals, currency);
}

const microDigits = 6;
/** PayPal's `money.value` is at most 32 characters long. */
const maxValueLength = 32;

/** Micro-units per smallest chargeable step of `currency`: 10,000 for cents, 1,000,000 for whole yen. */
function microsPerMinorUnit(currency: PayPalCurrency): bigint {
  return 10n ** BigInt(microDigits - payPalCurrencyDecimals[currency]);
}

/** An amount that PayPal cannot charge or that is not a PayPal amount at all. */
export class UnrepresentableAmount extends Error {
  override readonly name = 'UnrepresentableAmount';
}

/**
 * `amountMicros` as PayPal's `value` string for `currency`: 12_340_000n USD → "12.34".
 * Throws `UnrepresentableAmount` when the amount is negative or finer than the currency's
 * smallest unit (see the module comment: refused, not rounded).
 */
export function microsToPayPalValue(amountMicros: bigint, currency: PayPalCurrency): string {
  if (amountMicros < 0n) throw new UnrepresentableAmount(`A PayPal amount cannot be negative (got ${amountMicros} micro-units).`);
  const step = microsPerMinorUnit(currency);
  if (amountMicros % step !== 0n) {
    throw new UnrepresentableAmount(
      `${describeMicros(amountMicros)} ${currency} cannot be charged through PayPal: ${currency} has ` +
        `${payPalCurrencyDecimals[currency]} decimal places; the nearest chargeable amount above is ` +
        `${describeMicros(chargeableAtLeast(amountMicros, currency))} ${currency}.`,
    );
  }
  const decimals = payPalCurrencyDecimals[currency];
  const minor = amountMicros / step;
  const unit = 10n ** BigInt(decimals);
  const whole = (minor / unit).toString();
  const value = decimals === 0 ? whole : `${whole}.${(minor % unit).toString().padStart(decimals, '0')}`;
  if (value.length > maxValueLength) throw new UnrepresentableAmount(`${value} ${currency} is too large for PayPal.`);
  return value;
}

/**
 * PayPal's `value` string for `currency` as micro-units: "12.34" USD → 12_340_000n.
 * Strict: digits with at most the currency's decimal places ("5", "5.1" and "5.10" for USD;
 * never "5.123", "-1", "1e3", " 5" or "5." ), so a surprising reply is an error, not a guess.
 */
export function payPalValueToMicros(value: string, currency: PayPalCurrency): bigint {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(value);
  if (!match || value.length > maxValueLength) {
    throw new UnrepresentableAmount(`"${value}" is not a PayPal amount (expected digits like "12.34").`);
  }
  const [, whole = '', fraction = ''] = match;
  const decimals = payPalCurrencyDecimals[currency];
  if (fraction.length > decimals) {
    throw new UnrepresentableAmount(`"${value}" has more decimal places than ${currency} allows (${decimals}).`);
  }
  return BigInt(whole) * 10n ** BigInt(microDigits) + BigInt(fraction.padEnd(microDigits, '0') || '0');
}

/** The smallest amount PayPal can charge in `currency` that is at least `amountMicros`. */
export function chargeableAtLeast(amountMicros: bigint, currency: PayPalCurrency): bigint {
  const step = microsPerMinorUnit(currency);
  const rest = amountMicros % step;
  if (rest === 0n) return amountMicros;
  return amountMicros > 0n ? amountMicros - rest + step : amountMicros - rest;
}

/** Micro-units as an exact decimal with trailing zeros dropped, for messages: 1_234_567n → "1.234567". */
function describeMicros(micros: bigint): string {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const unit = 10n ** BigInt(microDigits);
  const fraction = (abs % unit).toString().padStart(microDigits, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${abs / unit}${fraction ? `.${fraction}` : ''}`;
}
