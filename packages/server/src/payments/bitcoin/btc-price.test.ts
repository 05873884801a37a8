import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBtc, parseBtcPrice, satsToMicros } from './btc-price.ts';

test('satoshis convert exactly at a decimal price', () => {
  const price = parseBtcPrice('65000.00');
  assert.equal(satsToMicros(100_000_000n, price), 65_000_000_000n); // 1 BTC = 65,000.000000
  assert.equal(satsToMicros(150_000n, price), 97_500_000n); // 0.0015 BTC = 97.500000
  assert.equal(satsToMicros(1n, price), 650n); // 1 sat = 0.000650
  assert.equal(satsToMicros(0n, price), 0n);
  assert.equal(satsToMicros(2_100_000_000_000_000n, price), 1_365_000_000_000_000_000n); // all 21M BTC, beyond 2^53
});

test('conversion rounds down to the micro-unit', () => {
  // 1 sat at 12345.678901 per BTC = 0.00012345678901 units = 123.45678901 micros.
  assert.equal(satsToMicros(1n, parseBtcPrice('12345.678901')), 123n);
  // 3 sat at 0.33 per BTC = 0.0099 micros.
  assert.equal(satsToMicros(3n, parseBtcPrice('0.33')), 0n);
  // Just below a whole micro: 99_999_999 sat at 1 per BTC = 999_999.99 micros.
  assert.equal(satsToMicros(99_999_999n, parseBtcPrice('1')), 999_999n);
  assert.equal(satsToMicros(100_000_000n, parseBtcPrice('1')), 1_000_000n);
});

test('prices with the same value but different decimals agree', () => {
  for (const text of ['65000', '65000.0', '65000.000000000000000000']) {
    assert.equal(satsToMicros(123_456_789n, parseBtcPrice(text)), 80_246_912_850n);
  }
});

test('malformed prices are refused', () => {
  for (const bad of ['', '0', '0.00', '-65000', '+65000', '6.5e4', '65,000.00', '65000.', '.5', 'NaN', '1'.repeat(16)]) {
    assert.throws(() => parseBtcPrice(bad), RangeError, bad);
  }
  assert.equal(parseBtcPrice(' 65000.50 ').text, '65000.50');
});

test('formatBtc shows eight decimals', () => {
  assert.equal(formatBtc(150_000n), '0.00150000');
  assert.equal(formatBtc(2_100_000_000_000_000n), '21000000.00000000');
  assert.equal(formatBtc(1n), '0.00000001');
});
