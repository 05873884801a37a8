import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReliabilityTicks } from './reliability-ticks.ts';

const minute = 60_000;

test('the first tick counts nothing, later ones the time since the last, at most two intervals; scores refresh every 15 min', () => {
  const ticks = new ReliabilityTicks(minute);
  let t = Date.parse('2026-03-02T12:00:00Z');
  const at = (ms: number) => ticks.next(new Date((t += ms)));
  assert.deepEqual(at(0), { elapsedMs: 0, refreshScores: true }, 'just started: devices are still reconnecting');
  assert.deepEqual(at(minute), { elapsedMs: minute, refreshScores: false });
  assert.deepEqual(at(minute + 500), { elapsedMs: minute + 500, refreshScores: false }, 'a tick a little late counts its time');
  assert.deepEqual(at(3 * 3_600_000), { elapsedMs: 2 * minute, refreshScores: true }, 'the server was stalled: not counted');
  assert.deepEqual(at(14 * minute), { elapsedMs: 2 * minute, refreshScores: false });
  assert.deepEqual(at(minute), { elapsedMs: minute, refreshScores: true });
});
