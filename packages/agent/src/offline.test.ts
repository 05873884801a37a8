import { test } from 'node:test';
import assert from 'node:assert/strict';
import { timing } from '@p2pvps/protocol/timing';
import { unreachableDetail, unreachableTooLong } from './offline.ts';

const rental = { rentalId: 'r1', containerId: 'c1', expiresAt: null };
const t0 = Date.parse('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(t0 + ms).toISOString();

test('the data-keeping limit is longer than the grace before the server ends a lost rental', () => {
  assert.ok(timing.dataKeepMs > timing.deviceLostGraceMs);
  assert.ok(timing.deviceLostGraceMs > timing.offlineAfterMs);
});

test('an active rental is kept while the server was heard from within dataKeepMs', () => {
  const state = { rental, lastServerContactAt: at(0) };
  assert.equal(unreachableTooLong(state, t0), false);
  assert.equal(unreachableTooLong(state, t0 + timing.deviceLostGraceMs + 1), false, 'not at the server-side grace');
  assert.equal(unreachableTooLong(state, t0 + timing.dataKeepMs - 1), false);
  assert.equal(unreachableTooLong(state, t0 + timing.dataKeepMs), true);
  assert.equal(unreachableTooLong(state, t0 + 50, 50), true, 'the limit can be given');
});

test('nothing to give up without a rental, or before the server was ever reached', () => {
  assert.equal(unreachableTooLong({ rental: null, lastServerContactAt: at(0) }, t0 + timing.dataKeepMs * 2), false);
  assert.equal(unreachableTooLong({ rental, lastServerContactAt: null }, t0 + timing.dataKeepMs * 2), false);
});

test('the owner is told why in a sentence', () => {
  assert.equal(
    unreachableDetail(6 * 3_600_000),
    "The device could not reach the server for 6 hours, so it destroyed the rental's container and wiped its storage.",
  );
});
