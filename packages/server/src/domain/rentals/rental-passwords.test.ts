import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { HeartbeatReply } from '@p2pvps/protocol/agent-schemas';
import { createTestContext } from '../test-context.ts';
import { sha512Crypt } from '../sha512-crypt.ts';
import { syncDevice } from './agent-sync.ts';
import { sealLegacyPasswords } from './rental-passwords.ts';
import { getRental, rent, stopRental } from './rentals.ts';

/** Whether `hash` ($6$salt$…) is the crypt(3) hash of `password`, as the container's sshd will check it. */
function cryptMatches(hash: string, password: string): boolean {
  const salt = hash.split('$')[2]!;
  return sha512Crypt(password, salt) === hash;
}

test('the device gets only a crypt(3) hash: the heartbeat reply holds no password, the renter still sees it', async () => {
  const t = await createTestContext();
  const { renter, deviceId } = await t.createMarket();
  const rental = await rent(t.ctx, renter.id, { deviceId, hours: 1 });
  const password = rental.connection.password;
  assert.equal(password.length, 20);

  for (const container of [null, { rentalId: rental.id, state: 'ready' as const }]) {
    const reply = await syncDevice(t.ctx, deviceId, { container });
    const wire = JSON.stringify(HeartbeatReply.parse(reply));
    assert.ok(!wire.includes(password), `no plaintext password in the heartbeat reply: ${wire}`);
    assert.ok(!('password' in reply.rental!), 'no password field at all');
    assert.ok(cryptMatches(reply.rental!.passwordHash, password), 'the hash is of the renter’s password');
    // What `openssl passwd -6` (glibc's crypt) makes of the password with that salt is the same hash.
    const salt = reply.rental!.passwordHash.split('$')[2]!;
    const openssl = execFileSync('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], { input: `${password}\n` })
      .toString()
      .trim();
    assert.equal(reply.rental!.passwordHash, openssl);
  }

  // The renter can reveal it whenever they look (dashboard, `p2pvps rentals show`).
  assert.equal((await getRental(t.ctx, renter.id, rental.id)).connection.password, password);
  await t.close();
});

test('the database row holds the password sealed, never in clear; an ended rental drops it', async () => {
  const t = await createTestContext();
  const { renter, deviceId } = await t.createMarket();
  const rental = await rent(t.ctx, renter.id, { deviceId });
  const password = rental.connection.password;
  const row = await t.ctx.db.selectFrom('rentals').selectAll().where('id', '=', rental.id).executeTakeFirstOrThrow();
  assert.ok(!JSON.stringify(row, (_k, v) => (typeof v === 'bigint' ? String(v) : v)).includes(password), 'no plaintext in any column');
  assert.match(row.password_sealed, /^sealed:v1:/);

  // Sealed for this rental: the same ciphertext in another rental's row does not open.
  assert.throws(() => t.ctx.secretBox.open(row.password_sealed, 'someotherrental'));

  await stopRental(t.ctx, renter.id, rental.id);
  await syncDevice(t.ctx, deviceId, { container: null });
  assert.equal((await getRental(t.ctx, renter.id, rental.id)).state, 'ended');
  assert.equal((await getRental(t.ctx, renter.id, rental.id)).connection.password, '', 'an ended rental shows no password');
  await t.close();
});

test('passwords stored in clear by an older server are sealed and hashed at start; the renter sees the same password', async () => {
  const t = await createTestContext();
  const { renter, deviceId } = await t.createMarket();
  const rental = await rent(t.ctx, renter.id, { deviceId });
  // As an older server left it: the password in clear and no hash.
  await t.ctx.db
    .updateTable('rentals')
    .set({ password_sealed: 'OldPlainPassword2345', password_crypt: '' })
    .where('id', '=', rental.id)
    .execute();

  assert.equal(await sealLegacyPasswords(t.ctx), 1);
  assert.equal(await sealLegacyPasswords(t.ctx), 0, 'idempotent');
  const row = await t.ctx.db.selectFrom('rentals').selectAll().where('id', '=', rental.id).executeTakeFirstOrThrow();
  assert.ok(!row.password_sealed.includes('OldPlainPassword2345'));
  assert.ok(cryptMatches(row.password_crypt, 'OldPlainPassword2345'));
  assert.equal((await getRental(t.ctx, renter.id, rental.id)).connection.password, 'OldPlainPassword2345');
  const reply = await syncDevice(t.ctx, deviceId, { container: null });
  assert.equal(reply.rental?.passwordHash, row.password_crypt);
  await t.close();
});
