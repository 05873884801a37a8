import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reliabilityScore, windowDays, type ReliabilityFigures } from './reliability.ts';

const hour = 3_600_000;
const now = new Date('2026-03-30T12:00:00Z');
/** `n` full days ending today, each expected 24 h and online `onlineHours` of them, with overrides for some days. */
function history(n: number, onlineHours = 24, overrides: Record<number, Partial<ReliabilityFigures>> = {}): ReliabilityFigures[] {
  return windowDays(now)
    .slice(-n)
    .map((day, i) => ({
      day,
      expectedMs: 24 * hour,
      onlineMs: onlineHours * hour,
      maintenanceMs: 0,
      failedStarts: 0,
      lostRentals: 0,
      ...overrides[i],
    }));
}

test('a device online all the time it was listed or rented scores 100', () => {
  assert.equal(reliabilityScore(history(30), now), 100);
});

test('the score is the online share of the time the device was listed or rented, not of the whole month', () => {
  // Listed only 12 h a day, online 9 of them: 75 %, though it was up 9 of 24 hours.
  const days = history(30).map((d) => ({ ...d, expectedMs: 12 * hour, onlineMs: 9 * hour }));
  assert.equal(reliabilityScore(days, now), 75);
  // A day it was off the market entirely changes nothing.
  assert.equal(reliabilityScore([...days.slice(1), { ...days[0]!, expectedMs: 0, onlineMs: 0 }], now), 75);
});

test('each failed container start costs 3 points and each lost rental 10', () => {
  assert.equal(reliabilityScore(history(30, 24, { 3: { failedStarts: 2 } }), now), 94);
  assert.equal(reliabilityScore(history(30, 24, { 5: { lostRentals: 1 }, 6: { failedStarts: 1 } }), now), 87);
});

test('downtime inside a declared maintenance window counts a quarter', () => {
  // 30 days of 24 h: 720 h expected. 8 h down in a window, 8 h down outside one.
  const inWindow = reliabilityScore(history(30, 24, { 10: { onlineMs: 16 * hour, maintenanceMs: 8 * hour } }), now);
  const outside = reliabilityScore(history(30, 24, { 10: { onlineMs: 16 * hour } }), now);
  assert.equal(outside, 98.9); // 100 × (1 − 8/720)
  assert.equal(inWindow, 99.7); // 100 × (1 − 2/720)
});

test('only the last 30 days count: older days are ignored', () => {
  const old = { day: '2026-02-27', expectedMs: 24 * hour, onlineMs: 0, maintenanceMs: 0, failedStarts: 5, lostRentals: 5 };
  assert.equal(reliabilityScore([old, ...history(30)], now), 100);
  assert.equal(windowDays(now)[0], '2026-03-01');
});

test('a new device shows no score (null, "new") instead of 100 until it has 7 days and 24 h of history', () => {
  assert.equal(reliabilityScore([], now), null);
  assert.equal(reliabilityScore(history(7), now), null, 'first day 6 days back: still new');
  assert.equal(reliabilityScore(history(8), now), 100, 'first day 7 days back');
  const sparse = history(10).map((d) => ({ ...d, expectedMs: 2 * hour, onlineMs: 2 * hour }));
  assert.equal(reliabilityScore(sparse, now), null, '20 h expected in all: too little to judge');
});

test('the score never goes below 0', () => {
  assert.equal(reliabilityScore(history(30, 24, { 0: { lostRentals: 11 } }), now), 0);
});
