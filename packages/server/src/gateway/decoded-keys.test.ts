import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { generateEd25519KeyPair, signingKey } from '@p2pvps/protocol/ssh-keys';
import { verifyEd25519 } from './decoded-keys.ts';

const parse = (text: string) => ssh2.utils.parseKey(text) as ParsedKey;

test("a signingKey's signatures check out with ssh2's own verifier, as the other side checks them", () => {
  const pair = generateEd25519KeyPair('gateway');
  const key = signingKey(pair.private);
  const data = randomBytes(64);
  const signature = key.sign(data);
  assert.ok(Buffer.isBuffer(signature));
  assert.equal(parse(pair.public).verify(data, signature), true);
  assert.equal(parse(pair.public).verify(randomBytes(64), signature), false);
});

test('verifyEd25519 accepts what the device signed and nothing else', () => {
  const device = generateEd25519KeyPair('device');
  const other = generateEd25519KeyPair('other');
  const data = randomBytes(100);
  const signature = parse(device.private).sign(data) as Buffer;
  assert.equal(verifyEd25519(parse(device.public), data, signature), true);
  assert.equal(verifyEd25519(parse(other.public), data, signature), false);
  assert.equal(verifyEd25519(parse(device.public), randomBytes(100), signature), false);
  assert.equal(verifyEd25519(parse(device.public), data, Buffer.alloc(3)), false);
});
