import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DomainError } from '../errors.ts';
import { createTestContext } from '../test-context.ts';
import { authenticateToken, login } from './accounts.ts';
import { listSessions, purgeDeadSessions, revokeSession, startSession } from './sessions.ts';

const day = 24 * 3_600_000;

test('a browser session left unused for a week ends; one in use lasts until its 30 days are up', async () => {
  const t = await createTestContext();
  const user = await t.createUser('u');
  const idle = await startSession(t.ctx, { email: user.email, password: 'correct horse battery' }, 'Firefox');
  const used = await startSession(t.ctx, { email: user.email, password: 'correct horse battery' }, 'Chromium');
  for (let d = 1; d <= 6; d++) {
    t.clock.advance(day);
    assert.ok(await authenticateToken(t.ctx, used.token, 'session'), `day ${d}`);
  }
  assert.ok(await authenticateToken(t.ctx, idle.token, 'session'), 'six days unused is not yet a week');
  t.clock.advance(7 * day);
  assert.equal(await authenticateToken(t.ctx, used.token, 'session'), null, 'a week unused');
  const daily = await startSession(t.ctx, { email: user.email, password: 'correct horse battery' }, 'Safari');
  for (let d = 1; d < 30; d++) {
    t.clock.advance(day);
    assert.ok(await authenticateToken(t.ctx, daily.token, 'session'), `day ${d}`);
  }
  t.clock.advance(day);
  assert.equal(await authenticateToken(t.ctx, daily.token, 'session'), null, 'past 30 days');
  // API tokens have no idle end.
  const api = await login(t.ctx, user.email, 'correct horse battery');
  t.clock.advance(100 * day);
  assert.ok(await authenticateToken(t.ctx, api.token, 'token'));
  await t.close();
});

test("a user lists their browser sessions and ends one; others' sessions are invisible", async () => {
  const t = await createTestContext();
  const user = await t.createUser('u');
  const stranger = await t.createUser('s');
  const laptop = await startSession(t.ctx, { email: user.email, password: 'correct horse battery' }, 'Firefox on the laptop');
  t.clock.advance(60_000);
  const phone = await startSession(t.ctx, { email: user.email, password: 'correct horse battery' }, 'Chromium on the phone');
  const theirs = await startSession(t.ctx, { email: stranger.email, password: 'correct horse battery' }, 'Lynx');
  const caller = (await authenticateToken(t.ctx, laptop.token, 'session'))!;
  const sessions = await listSessions(t.ctx, caller);
  assert.deepEqual(
    sessions.map((s) => [s.name, s.current]),
    [
      ['browser: Chromium on the phone', false],
      ['browser: Firefox on the laptop', true],
    ],
  );
  assert.equal(sessions[1]!.expiresAt, new Date(t.clock.now().getTime() + 7 * day).toISOString(), 'a week after its last use');
  const strangerSession = (await listSessions(t.ctx, (await authenticateToken(t.ctx, theirs.token, 'session'))!))[0]!;
  await assert.rejects(revokeSession(t.ctx, user.id, strangerSession.id), (e: DomainError) => e.code === 'not_found');
  await revokeSession(t.ctx, user.id, sessions[0]!.id);
  assert.equal(await authenticateToken(t.ctx, phone.token, 'session'), null);
  assert.ok(await authenticateToken(t.ctx, laptop.token, 'session'));
  assert.ok(await authenticateToken(t.ctx, theirs.token, 'session'));
  await t.close();
});

test('sessions that ended are purged from the database; live ones and API tokens stay', async () => {
  const t = await createTestContext();
  const user = await t.createUser('u');
  await startSession(t.ctx, { email: user.email, password: 'correct horse battery' }, 'idle');
  t.clock.advance(6 * day);
  const live = await startSession(t.ctx, { email: user.email, password: 'correct horse battery' }, 'live');
  await login(t.ctx, user.email, 'correct horse battery');
  t.clock.advance(day);
  assert.equal(await purgeDeadSessions(t.ctx), 1);
  const rows = await t.ctx.db.selectFrom('api_tokens').select(['name', 'kind']).where('user_id', '=', user.id).orderBy('name').execute();
  assert.deepEqual(
    rows.map((r) => r.name),
    ['browser: live', 'login', 'signup'],
  );
  assert.ok(await authenticateToken(t.ctx, live.token, 'session'));
  await t.close();
});
