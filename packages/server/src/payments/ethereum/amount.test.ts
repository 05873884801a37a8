import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatUnits, parseRate, toMicros } from './amount.ts';

const WEI = 10n ** 18n;

test('converts ETH at a decimal rate exactly', () => {
  const rate = parseRate('3000.00');
  assert.equal(toMicros(WEI, 18, rate), 3_000_000_000n);
  assert.equal(toMicros(WEI / 4n, 18, rate), 750_000_000n);
  assert.equal(toMicros(1n, 18, parseRate('3000')), 0n); // one wei is far below a micro-unit
});

test('rounds down to the micro-unit', () => {
  // 1 micro-unit at 3000/ETH is 1/3000 × 10^-6 ETH = 333_333_333.33… wei.
  const rate = parseRate('3000');
  assert.equal(toMicros(333_333_333n, 18, rate), 0n);
  assert.equal(toMicros(333_333_334n, 18, rate), 1n);
});

test('converts a 6-decimal stablecoin at its rate', () => {
  assert.equal(toMicros(12_345_678n, 6, parseRate('1')), 12_345_678n);
  assert.equal(toMicros(12_345_678n, 6, parseRate('0.9999')), 12_344_443n);
});

test('refuses malformed and zero rates', () => {
  for (const bad of ['', '3,000', '1e3', '-1', '.5', '5.', '0', '0.000', ' 1', 'NaN']) {
    assert.throws(() => parseRate(bad), /rate/, bad);
  }
});

test('conversion is the floor of the exact fraction (property)', () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: 10n ** 30n }),
      fc.integer({ min: 0, max: 24 }),
      fc.bigInt({ min: 1n, max: 10n ** 12n }),
      fc.integer({ min: 0, max: 8 }),
      (amount, decimals, scaled, scale) => {
        const text = formatUnits(scaled, scale);
        const micros = toMicros(amount, decimals, parseRate(text));
        // micros ≤ exact value < micros + 1, compared as integers.
        const denominator = 10n ** BigInt(decimals + scale);
        const exactNumerator = amount * scaled * 1_000_000n;
        assert.ok(micros * denominator <= exactNumerator);
        assert.ok((micros + 1n) * denominator > exactNumerator);
      },
    ),
  );
});

test('formats base units', () => {
  assert.equal(formatUnits(1_500_000_000_000_000_000n, 18), '1.5');
  assert.equal(formatUnits(2_000_000n, 6), '2');
  assert.equal(formatUnits(1n, 6), '0.000001');
  assert.equal(formatUnits(0n, 0), '0');
});
