import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from './backoff.ts';

test('grows exponentially, stays within half to all of the ceiling, and is capped', () => {
  const low = new Backoff(100, 1000, () => 0);
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map(() => low.next()),
    [50, 100, 200, 400, 500, 500],
  );
  const high = new Backoff(100, 1000, () => 1);
  assert.deepEqual(
    [1, 2, 3, 4, 5].map(() => high.next()),
    [100, 200, 400, 800, 1000],
  );
});

test('reset starts again from the initial delay', () => {
  const b = new Backoff(100, 1000, () => 1);
  b.next();
  b.next();
  b.reset();
  assert.equal(b.next(), 100);
});
