import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sourceOf as sourceKey } from '../client-source.ts';
import { SlotCounts } from './connection-caps.ts';

test('a key holds at most its cap of slots, and each release gives one back once', () => {
  const slots = new SlotCounts();
  const a1 = slots.take('a', 2);
  const a2 = slots.take('a', 2);
  assert.ok(a1 && a2);
  assert.equal(slots.take('a', 2), null);
  assert.ok(slots.take('b', 2), 'another key has its own slots');
  a1();
  a1();
  assert.equal(slots.count('a'), 1, 'a release twice counts once');
  assert.ok(slots.take('a', 2));
});

test('a source is an IPv4 address, or the /64 of an IPv6 address however it is written', () => {
  assert.equal(sourceKey('127.0.0.2'), '127.0.0.2');
  assert.equal(sourceKey('::ffff:127.0.0.2'), '127.0.0.2');
  assert.equal(sourceKey('::1'), '0:0:0:0::/64');
  assert.equal(sourceKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(sourceKey('2001:db8:0:0:ffff::7'), '2001:db8:0:0::/64');
  assert.equal(sourceKey('2001:0DB8:0000:0000:1:2:3:4'), '2001:db8:0:0::/64');
  assert.equal(sourceKey('2001:db8:1:2::'), '2001:db8:1:2::/64');
  assert.equal(sourceKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.notEqual(sourceKey('2001:db8:0:1::1'), sourceKey('2001:db8:0:2::1'));
});
