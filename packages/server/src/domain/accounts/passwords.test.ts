import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findUserByEmail } from '../../db/accounts-repo.ts';
import { DomainError, RetryLaterError } from '../errors.ts';
import { hashConcurrency, hashPassword, hashQueueLimit, passwordHashLoad, verifyPassword } from '../secrets.ts';
import { createTestContext } from '../test-context.ts';
import { login, signup } from './accounts.ts';

test('passwords are hashed with scrypt at N = 2^17, r = 8, p = 1', async () => {
  const stored = await hashPassword('correct horse battery');
  assert.match(stored, /^scrypt\$131072\$8\$1\$/);
  assert.deepEqual(await verifyPassword('correct horse battery', stored), { ok: true, needsRehash: false });
  assert.deepEqual(await verifyPassword('wrong horse battery', stored), { ok: false, needsRehash: false });
});

test('a password stored at the old cost (2^14) is hashed again at 2^17 on the next successful login, not on a failed one', async () => {
  const t = await createTestContext();
  delete t.ctx.settings.passwordCost; // the server's own cost
  await t.ctx.db
    .insertInto('users')
    .values({
      id: 'olduser1',
      email: 'old@example.org',
      password_hash: await hashPassword('correct horse battery', { log2N: 14, r: 8, p: 1 }),
      is_admin: 0,
      created_at: t.clock.now().toISOString(),
    })
    .execute();
  const stored = async () => (await findUserByEmail(t.ctx.db, 'old@example.org'))!.password_hash;
  const old = await stored();
  await assert.rejects(login(t.ctx, 'old@example.org', 'wrong horse battery'), (e: DomainError) => e.code === 'invalid_credentials');
  assert.equal(await stored(), old);
  await login(t.ctx, 'old@example.org', 'correct horse battery');
  assert.match(await stored(), /^scrypt\$131072\$8\$1\$/);
  // The upgraded hash still takes the same password.
  assert.equal((await login(t.ctx, 'old@example.org', 'correct horse battery')).user.email, 'old@example.org');
  await t.close();
});

test('an account made at the current cost is not hashed again at login', async () => {
  const t = await createTestContext();
  await signup(t.ctx, 'new@example.org', 'correct horse battery');
  const before = (await findUserByEmail(t.ctx.db, 'new@example.org'))!.password_hash;
  await login(t.ctx, 'new@example.org', 'correct horse battery');
  assert.equal((await findUserByEmail(t.ctx.db, 'new@example.org'))!.password_hash, before);
  await t.close();
});

test('only a few hashes run at once; a bounded number wait, and beyond that the caller is told the server is busy', async () => {
  let most = 0;
  const watch = setInterval(() => (most = Math.max(most, passwordHashLoad().running)), 1);
  const attempts = hashConcurrency + hashQueueLimit + 5;
  const results = await Promise.allSettled(
    Array.from({ length: attempts }, () => hashPassword('correct horse battery', { log2N: 12, r: 8, p: 1 })),
  );
  clearInterval(watch);
  const busy = results.filter((r) => r.status === 'rejected');
  assert.equal(busy.length, 5);
  for (const r of busy) {
    const err = (r as PromiseRejectedResult).reason as RetryLaterError;
    assert.equal(err.code, 'server_busy');
    assert.equal(err.retryAfterSeconds, 1);
  }
  assert.ok(most <= hashConcurrency, `${most} hashes ran at once`);
  assert.deepEqual(passwordHashLoad(), { running: 0, waiting: 0 });
});
