import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canTake, InvalidRentalTransition, nextRentalState } from './rental-state.ts';

test('the happy path: requested → active → ending → ended', () => {
  let s = nextRentalState('requested', { type: 'container_ready' });
  assert.equal(s, 'active');
  s = nextRentalState(s, { type: 'end', reason: 'renter_stopped' });
  assert.equal(s, 'ending');
  s = nextRentalState(s, { type: 'wiped' });
  assert.equal(s, 'ended');
});

test('a rental can be stopped before its container is ready', () => {
  assert.equal(nextRentalState('requested', { type: 'end', reason: 'renter_stopped' }), 'ending');
});

test('the device is freed only by a confirmed wipe', () => {
  assert.throws(() => nextRentalState('active', { type: 'wiped' }), InvalidRentalTransition);
  assert.throws(() => nextRentalState('requested', { type: 'wiped' }), InvalidRentalTransition);
});

test('ended is final and ending cannot be revived', () => {
  for (const type of ['container_ready', 'end', 'wiped'] as const) assert.equal(canTake('ended', type), false);
  assert.throws(() => nextRentalState('ending', { type: 'container_ready' }), /cannot take event container_ready/);
  assert.throws(() => nextRentalState('ending', { type: 'end', reason: 'expired' }), InvalidRentalTransition);
});

test('an active rental cannot become ready twice', () => {
  assert.throws(() => nextRentalState('active', { type: 'container_ready' }), InvalidRentalTransition);
});
