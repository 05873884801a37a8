import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lowestFreePort } from './port-allocation.ts';

test('takes the lowest free port, filling holes left by removed devices', () => {
  assert.equal(lowestFreePort([20000, 20009], new Set()), 20000);
  assert.equal(lowestFreePort([20000, 20009], new Set([20000, 20001, 20003])), 20002);
});

test('returns null when the range is full', () => {
  assert.equal(lowestFreePort([20000, 20001], new Set([20000, 20001])), null);
});

test('never returns a port outside the range', () => {
  assert.equal(lowestFreePort([20005, 20005], new Set([20004, 20006])), 20005);
});
