import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heartbeatIntervalWithin } from './server-trust.ts';

test("the server's heartbeat interval is kept within a second and an hour", () => {
  assert.equal(heartbeatIntervalWithin(0), 1_000, 'no tight loop');
  assert.equal(heartbeatIntervalWithin(-5), 1_000);
  assert.equal(heartbeatIntervalWithin(10 * 60_000), 10 * 60_000);
  assert.equal(heartbeatIntervalWithin(Number.MAX_SAFE_INTEGER), 60 * 60_000, 'never silent for days');
});
