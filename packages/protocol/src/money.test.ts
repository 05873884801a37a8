import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatMicros, formatMoney, MAX_MICROS, MoneyFormatError, parseMoney } from './money.ts';

test('parseMoney converts decimals to micro-units exactly, with no float error', () => {
  assert.equal(parseMoney('0.07'), 70_000); // 0.07 * 1e6 is 70000.00000000001 in floating point
  assert.equal(parseMoney('1.234567'), 1_234_567);
  assert.equal(parseMoney('0.05'), 50_000);
  assert.equal(parseMoney('0.1'), 100_000);
  assert.equal(parseMoney('12'), 12_000_000);
  assert.equal(parseMoney('.5'), 500_000);
  assert.equal(parseMoney('0'), 0);
  assert.equal(parseMoney(' 0.000001 '), 1);
  assert.equal(parseMoney('1000000'), MAX_MICROS);
});

test('parseMoney rejects what is not a plain decimal amount', () => {
  for (const bad of ['', ' ', '-0.05', '1e-3', '0,05', '1.', '.', 'abc', '0.05 USD', '$1', '1.2.3', '+1', 'Infinity', '0x10']) {
    assert.throws(() => parseMoney(bad), MoneyFormatError, `accepted ${JSON.stringify(bad)}`);
  }
});

test('parseMoney rejects more than six decimals and amounts over the protocol maximum', () => {
  assert.throws(() => parseMoney('0.0000001'), /more than 6 decimals/);
  assert.throws(() => parseMoney('0.1234567'), /more than 6 decimals/);
  assert.throws(() => parseMoney('1000000.000001'), /too large/);
  assert.throws(() => parseMoney('99999999999999999999'), /too large/);
});

test('formatMicros shows two to six decimals, trimming trailing zeros', () => {
  assert.equal(formatMicros(50_000), '0.05');
  assert.equal(formatMicros(70_000), '0.07');
  assert.equal(formatMicros(0), '0.00');
  assert.equal(formatMicros(1_000_000), '1.00');
  assert.equal(formatMicros(1_500_000), '1.50');
  assert.equal(formatMicros(1_234_567), '1.234567');
  assert.equal(formatMicros(500), '0.0005');
  assert.equal(formatMicros(1), '0.000001');
  assert.equal(formatMoney(50_000, 'USD'), '0.05 USD');
  assert.equal(formatMoney(1_500_000, 'EUR'), '1.50 EUR');
});

test('formatting and parsing round-trip', () => {
  for (const micros of [0, 1, 10, 70_000, 999_999, 1_000_001, 123_456_789, MAX_MICROS]) {
    assert.equal(parseMoney(formatMicros(micros)), micros);
  }
});
