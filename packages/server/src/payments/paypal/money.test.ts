import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { chargeableAtLeast, microsToPayPalValue, payPalValueToMicros, UnrepresentableAmount } from './money.ts';

test('micro-units become PayPal values with the currency’s decimal places', () => {
  assert.equal(microsToPayPalValue(12_340_000n, 'USD'), '12.34');
  assert.equal(microsToPayPalValue(1_000_000n, 'EUR'), '1.00');
  assert.equal(microsToPayPalValue(10_000n, 'USD'), '0.01');
  assert.equal(microsToPayPalValue(0n, 'USD'), '0.00');
  assert.equal(microsToPayPalValue(1_000_000_000n, 'JPY'), '1000');
  assert.equal(microsToPayPalValue(123_456_789_012_345_670_000n, 'USD'), '123456789012345.67');
});

test('amounts finer than the currency’s smallest unit are refused, naming the next chargeable amount', () => {
  assert.throws(() => microsToPayPalValue(1_234_567n, 'USD'), {
    name: 'UnrepresentableAmount',
    message: /1\.234567 USD cannot be charged through PayPal: USD has 2 decimal places; the nearest chargeable amount above is 1\.24 USD/,
  });
  assert.throws(() => microsToPayPalValue(5_000n, 'EUR'), UnrepresentableAmount); // half a cent
  assert.throws(() => microsToPayPalValue(1_500_000n, 'JPY'), /1\.5 JPY cannot be charged.*0 decimal places.*2 JPY/);
  assert.throws(() => microsToPayPalValue(-1_000_000n, 'USD'), /cannot be negative/);
  assert.throws(() => microsToPayPalValue(10n ** 40n, 'USD'), /too large/);
});

test('chargeableAtLeast rounds up to the next whole cent or yen, and keeps exact amounts', () => {
  assert.equal(chargeableAtLeast(1_234_567n, 'USD'), 1_240_000n);
  assert.equal(chargeableAtLeast(1_230_000n, 'USD'), 1_230_000n);
  assert.equal(chargeableAtLeast(1n, 'USD'), 10_000n);
  assert.equal(chargeableAtLeast(1_500_000n, 'JPY'), 2_000_000n);
});

test('PayPal values become exact micro-units', () => {
  assert.equal(payPalValueToMicros('12.34', 'USD'), 12_340_000n);
  assert.equal(payPalValueToMicros('12.3', 'USD'), 12_300_000n);
  assert.equal(payPalValueToMicros('12', 'USD'), 12_000_000n);
  assert.equal(payPalValueToMicros('0.01', 'EUR'), 10_000n);
  assert.equal(payPalValueToMicros('1000', 'JPY'), 1_000_000_000n);
  assert.equal(payPalValueToMicros('99999999999999999999.99', 'USD'), 99_999_999_999_999_999_999_990_000n);
});

test('anything that is not a plain PayPal amount for the currency is refused', () => {
  for (const value of ['1.234', '-1.00', '1e3', '', ' 1.00', '1.00 ', '1.', '.5', '1,00', 'NaN', '0x10', '١٢']) {
    assert.throws(() => payPalValueToMicros(value, 'USD'), UnrepresentableAmount, value);
  }
  assert.throws(() => payPalValueToMicros('1.0', 'JPY'), /more decimal places than JPY allows \(0\)/);
  assert.throws(() => payPalValueToMicros('1'.repeat(33), 'JPY'), /not a PayPal amount/);
});

test('every whole-cent amount survives the round trip exactly', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 10n ** 18n }), (cents) => {
      const micros = cents * 10_000n;
      assert.equal(payPalValueToMicros(microsToPayPalValue(micros, 'USD'), 'USD'), micros);
    }),
  );
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 10n ** 18n }), (yen) => {
      assert.equal(payPalValueToMicros(microsToPayPalValue(yen * 1_000_000n, 'JPY'), 'JPY'), yen * 1_000_000n);
    }),
  );
});
