import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerDocument } from '@p2pvps/protocol/federation-schemas';
import { ManualClock } from '../domain/clock.ts';
import { followRotations, serverKeyFile, ServerIdentity } from './server-key.ts';

const clock = new ManualClock(new Date('2026-12-07T02:00:00Z'));
const dir = mkdtempSync(join(tmpdir(), 'p2pvps-fedkey-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the server key is made at first start, readable by the server alone, and the same at the next start', () => {
  const first = new ServerIdentity(dir, clock);
  assert.equal(statSync(join(dir, serverKeyFile)).mode & 0o777, 0o600);
  assert.match(first.key.id, /^SHA256:[A-Za-z0-9+/]{43}$/);
  assert.deepEqual(new ServerIdentity(dir, clock).key, first.key);
});

test('a rotation is signed by the old key; a peer that pinned any earlier key follows the chain to the new one', () => {
  const identity = new ServerIdentity(dir, clock);
  const original = identity.key;
  identity.rotate();
  const middle = identity.key;
  clock.advance(1000);
  identity.rotate();
  assert.equal(statSync(join(dir, serverKeyFile)).mode & 0o777, 0o600);
  const doc = ServerDocument.parse(identity.document('b', 'http://b.test', 10, 'USD', 5));
  assert.equal(doc.previousKeys.length, 2);
  assert.deepEqual(followRotations(original, doc), identity.key);
  assert.deepEqual(followRotations(middle, doc), identity.key);
  assert.deepEqual(new ServerIdentity(dir, clock).key, identity.key, 'the new key is the one kept');
  // A rotation signature that does not verify breaks the chain.
  const tampered = {
    ...doc,
    previousKeys: doc.previousKeys.map((k, i) => (i === 0 ? { ...k, rotationSignature: doc.previousKeys[1]!.rotationSignature } : k)),
  };
  assert.equal(followRotations(original, tampered), null);
});
