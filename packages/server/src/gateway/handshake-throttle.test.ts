import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HandshakeThrottle } from './handshake-throttle.ts';

test('admits up to the cap, refuses beyond it, and counts the refusals', () => {
  const throttle = new HandshakeThrottle(2);
  const a = throttle.tryAcquire();
  const b = throttle.tryAcquire();
  assert.ok(a && b);
  assert.equal(throttle.tryAcquire(), null);
  assert.equal(throttle.tryAcquire(), null);
  assert.equal(throttle.inFlight, 2);
  assert.equal(throttle.refused, 2);
});

test('a released slot admits the next handshake', () => {
  const throttle = new HandshakeThrottle(1);
  const first = throttle.tryAcquire();
  assert.ok(first);
  assert.equal(throttle.tryAcquire(), null);
  first();
  assert.ok(throttle.tryAcquire());
});

test('releasing twice frees only one slot (login and close both release)', () => {
  const throttle = new HandshakeThrottle(2);
  const a = throttle.tryAcquire()!;
  throttle.tryAcquire();
  a();
  a();
  assert.equal(throttle.inFlight, 1);
  assert.ok(throttle.tryAcquire());
  assert.equal(throttle.tryAcquire(), null);
});

test('rejects a cap that would refuse everything', () => {
  assert.throws(() => new HandshakeThrottle(0), RangeError);
  assert.throws(() => new HandshakeThrottle(1.5), RangeError);
});
