import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkRate, withinBand, type RatePolicy } from './exchange-rates.ts';

const policy: RatePolicy = { maxAgeMs: 60 * 60_000, bandBps: 1_000 };
const now = new Date('2026-12-06T12:00:00.000Z');

test('a rate is good for its window and within the band of the one it replaced', () => {
  assert.deepEqual(
    checkRate('ETH', { coin: 'ETH', rate: '3120.50', setAt: '2026-12-06T11:30:00.000Z', previousRate: '3000' }, policy, now),
    {
      usable: true,
      rate: '3120.50',
      setAt: '2026-12-06T11:30:00.000Z',
    },
  );
  assert.deepEqual(checkRate('ETH', undefined, policy, now), {
    usable: false,
    rate: undefined,
    reason: 'There is no ETH rate yet; the operator sets it with p2pvps admin rate set ETH RATE.',
  });
  const stale = checkRate('ETH', { coin: 'ETH', rate: '3000', setAt: '2026-12-06T10:59:00.000Z', previousRate: null }, policy, now);
  assert.equal(stale.usable, false);
  assert.match(!stale.usable ? stale.reason : '', /set 61 min ago, longer than the 60 min/);
  const future = checkRate('ETH', { coin: 'ETH', rate: '3000', setAt: 'not a time', previousRate: null }, policy, now);
  assert.equal(future.usable, false, 'an unreadable time is not fresh');
  const jump = checkRate('BTC', { coin: 'BTC', rate: '6500', setAt: now.toISOString(), previousRate: '65000' }, policy, now);
  assert.equal(jump.usable, false);
  assert.match(
    !jump.usable ? jump.reason : '',
    /moved from 65000 to 6500, more than 10% at once; the operator confirms it by setting it again/,
  );
});

test('the band is exact: 10% either way is in, a micro-unit more is out', () => {
  assert.equal(withinBand('3000', '3300', 1_000), true);
  assert.equal(withinBand('3000', '2700.00', 1_000), true);
  assert.equal(withinBand('3000', '3300.000001', 1_000), false);
  assert.equal(withinBand('3000.00', '2699.99', 1_000), false);
  assert.equal(withinBand('1', '1.00', 1), true);
});
