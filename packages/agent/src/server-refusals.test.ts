import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '@p2pvps/protocol/client';
import { classifyRefusal } from './server-refusals.ts';

test('only our server envelope with its own status counts; a revocation is only device_revoked', () => {
  const e = (status: number, code: string, detail?: string) => classifyRefusal(new ApiError(status, code, 'm', undefined, detail));
  assert.deepEqual(e(401, 'device_revoked'), { kind: 'revoked' });
  assert.deepEqual(e(403, 'device_revoked'), { kind: 'other' }, 'not the status our server gives it');
  assert.deepEqual(e(401, 'unauthorized'), { kind: 'other' }, "a foreign envelope's code");
  assert.deepEqual(e(401, 'bad_response'), { kind: 'other' }, 'no envelope at all');
  assert.deepEqual(e(401, 'device_auth_failed'), { kind: 'signature', code: 'device_auth_failed', message: 'm' });
  assert.deepEqual(e(401, 'device_clock_skew', '2026-03-02T12:00:00.000Z'), {
    kind: 'clock_skew',
    serverTime: Date.parse('2026-03-02T12:00:00.000Z'),
  });
  assert.deepEqual(e(401, 'device_clock_skew', 'soon'), { kind: 'other' });
  assert.deepEqual(e(401, 'device_replay', '1772452800000'), { kind: 'replay', lastTs: 1772452800000 });
  assert.deepEqual(classifyRefusal(new Error('socket hang up')), { kind: 'other' });
});
