import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SigningClock } from './identity.ts';

test('signed timestamps rise strictly, also within one millisecond and after the clock is corrected back', () => {
  let now = 1_000_000;
  const clock = new SigningClock(() => now);
  assert.deepEqual([clock.next(), clock.next(), clock.next()], [1_000_000, 1_000_001, 1_000_002]);
  // The server says its time is an hour behind this device's clock (a device that booted with a clock ahead).
  now += 10;
  assert.equal(clock.learnServerTime(now - 3_600_000), true);
  assert.equal(clock.offset, -3_600_000);
  assert.equal(clock.next(), now - 3_600_000, 'signs with the server time, not held up by the wrong-clock ones');
  // A reply's few milliseconds are not a correction.
  assert.equal(clock.learnServerTime(now - 3_600_000 + 40), false);
  // The server's high-water mark from before: never sign at or below it.
  clock.raiseFloor(now);
  assert.equal(clock.next(), now + 1);
});
