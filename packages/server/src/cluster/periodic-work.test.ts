import { createTestDatabase } from '../testing/test-database.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findLease } from '../db/leases-repo.ts';
import { insertMail } from '../db/mail-repo.ts';
import { startTestServer } from '../testing/test-server.ts';

test('of two servers on one database only the leader delivers mail; when it stops, the other takes over at once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-two-nodes-'));
  const database = await createTestDatabase(`sqlite:${join(dir, 'shared.sqlite')}`);
  const env = {
    P2PVPS_DATABASE_URL: database.url,
    P2PVPS_LEADER_LEASE_TTL_MS: '900',
  };
  const first = await startTestServer('node-a', { ...env, P2PVPS_NODE_ID: 'node-a' });
  // Registered before the second start, so a failed start still closes the first (else the file never exits).
  let second: Awaited<ReturnType<typeof startTestServer>> | undefined;
  t.after(async () => {
    await second?.stop();
    await first.stop();
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  });
  second = await startTestServer('node-b', { ...env, P2PVPS_NODE_ID: 'node-b' }, { nodeOf: first });
  const db = second.server.ctx.db;
  assert.equal((await findLease(db, 'periodic-work'))?.holderNode, 'node-a', 'the first server leads from its start');

  const queue = (id: string) =>
    insertMail(db, {
      id,
      dedup_key: null,
      kind: 'test',
      user_id: null,
      to_address: 'renter@example.org',
      subject: 'A notice',
      text_body: 'text',
      html_body: '<p>text</p>',
      created_at: new Date(0).toISOString(),
    });
  const state = async (id: string) =>
    (await db.selectFrom('mail_messages').select('state').where('id', '=', id).executeTakeFirstOrThrow()).state;

  await queue('mail-1');
  assert.equal(await second.server.mail.deliverDue(), 0, 'a node that does not lead delivers nothing');
  assert.equal(await state('mail-1'), 'queued');
  assert.equal(await first.server.mail.deliverDue(), 1);
  assert.equal(await state('mail-1'), 'outbox');

  // The leader shuts down and lets go: the other takes over at its next attempt (every TTL/3), not after the TTL.
  const token = (await findLease(db, 'periodic-work'))!.token;
  await first.server.close();
  for (let i = 0; i < 100 && (await findLease(db, 'periodic-work'))?.holderNode !== 'node-b'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const lease = await findLease(db, 'periodic-work');
  assert.deepEqual([lease?.holderNode, lease?.token], ['node-b', token + 1]);
  await queue('mail-2');
  assert.equal(await second.server.mail.deliverDue(), 1, 'the new leader delivers');
  assert.equal(await state('mail-2'), 'outbox');
});
