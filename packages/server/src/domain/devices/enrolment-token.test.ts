import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashSecret } from '../secrets.ts';
import { checkEnrolmentToken, issueEnrolmentToken } from './enrolment-token.ts';

const now = new Date('2026-01-01T00:00:00Z');

test('a token is random, prefixed, and stored only as its hash', () => {
  const a = issueEnrolmentToken(now, 60_000);
  const b = issueEnrolmentToken(now, 60_000);
  assert.match(a.token, /^p2pe_[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a.token, b.token);
  assert.equal(a.tokenHash, hashSecret(a.token));
  assert.ok(!a.tokenHash.includes(a.token));
  assert.equal(a.expiresAt.toISOString(), '2026-01-01T00:01:00.000Z');
});

test('valid until it expires, and never after it is spent', () => {
  const stored = { expires_at: '2026-01-01T00:01:00.000Z', spent_at: null };
  assert.equal(checkEnrolmentToken(stored, now), null);
  assert.equal(checkEnrolmentToken(stored, new Date('2026-01-01T00:01:00.000Z')), 'expired');
  assert.equal(checkEnrolmentToken({ ...stored, spent_at: '2026-01-01T00:00:30.000Z' }, now), 'spent');
  assert.equal(checkEnrolmentToken(undefined, now), 'unknown');
});
