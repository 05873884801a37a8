import { test } from 'node:test';
import assert from 'node:assert/strict';
import { offlineDuring } from './rental-log.ts';

const at = (minute: number) => new Date(Date.UTC(2026, 2, 2, 12, minute)).toISOString();
const e = (minute: number, kind: string) => ({ at: at(minute), kind });

test('the device is away from each offline to the next online, between the container start and the rental end', () => {
  const events = [e(0, 'requested'), e(1, 'container_started'), e(11, 'device_offline'), e(21, 'device_online'), e(41, 'ending')];
  assert.deepEqual(offlineDuring(events, new Date(at(59))), { offlineMs: 10 * 60_000, spanMs: 40 * 60_000 });
});

test('an outage still going counts until the rental ends, or until now while it runs', () => {
  assert.deepEqual(offlineDuring([e(0, 'container_started'), e(30, 'device_offline')], new Date(at(40))), {
    offlineMs: 10 * 60_000,
    spanMs: 40 * 60_000,
  });
  assert.deepEqual(offlineDuring([e(0, 'container_started'), e(10, 'device_offline'), e(20, 'ending')], new Date(at(50))), {
    offlineMs: 10 * 60_000,
    spanMs: 20 * 60_000,
  });
});

test("a return without a recorded departure (the server restarted) is not the device's outage", () => {
  assert.deepEqual(offlineDuring([e(0, 'container_started'), e(5, 'device_online'), e(10, 'ending')], new Date(at(20))), {
    offlineMs: 0,
    spanMs: 10 * 60_000,
  });
});

test('a rental whose container never started has no uptime to tell', () => {
  assert.equal(offlineDuring([e(0, 'requested'), e(3, 'ending')], new Date(at(5))), null);
  assert.equal(offlineDuring([], new Date(at(5))), null);
});
