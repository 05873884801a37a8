import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chargeForMinutes, feeOf, formatMoney } from './money.ts';

test('per-minute charges add up to the hourly price exactly, whatever the price', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.integer({ min: 0, max: 100_000 }), (price, minutes) => {
      const total = chargeForMinutes(price, BigInt(minutes));
      let stepwise = 0n;
      // Charging minute by minute as deltas of the running total never drifts from the total.
      for (let m = 1; m <= Math.min(minutes, 200); m++)
        stepwise += chargeForMinutes(price, BigInt(m)) - chargeForMinutes(price, BigInt(m - 1));
      if (minutes <= 200) assert.equal(stepwise, total);
      assert.ok(total <= (price * BigInt(minutes)) / 60n && total * 60n >= price * BigInt(minutes) - 59n);
    }),
  );
  assert.equal(chargeForMinutes(1_000_000n, 60n), 1_000_000n, 'an hour costs the hourly price');
  assert.equal(chargeForMinutes(10_000n, 1n), 166n, 'cheap devices are still charged per minute');
});

test('the fee is a floor of the basis points, and the owner gets the rest', () => {
  assert.equal(feeOf(1_000_000n, 1000n), 100_000n);
  assert.equal(feeOf(999n, 1000n), 99n);
  assert.equal(feeOf(5n, 750n), 0n);
});

test('money is shown rounded half up to cents', () => {
  assert.equal(formatMoney(12_345_678n, 'USD'), '12.35 USD');
  assert.equal(formatMoney(-5_000n, 'EUR'), '-0.01 EUR');
  assert.equal(formatMoney(0n, 'USD'), '0.00 USD');
  assert.equal(formatMoney(1_000_000n, 'JPY', 0), '1 JPY');
});
