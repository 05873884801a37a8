import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '@p2pvps/protocol/client';
import { statementCsvPath } from '@p2pvps/protocol/routes';
import { pageLimits } from '@p2pvps/protocol/schemas';
import { grantCredit } from '../domain/money/credit.ts';
import { newId, newWebName } from '../domain/secrets.ts';
import type { RunningServer } from '../services/server.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';

/**
 * The statement and the long lists come in pages (keyset, a maximum page size, a `next`
 * cursor), and the statement's CSV is streamed: no reply grows with the history.
 */
let testServer: TestServer;
let server: RunningServer;
let dataDir: string;
let user: ApiClient;
let userId: string;
let operator: ApiClient;
const credits = 1234;

before(async () => {
  testServer = await startTestServer('paging');
  ({ server, dataDir } = testServer);
  const api = new ApiClient({ baseUrl: server.apiUrl });
  const session = await api.call('signup', { body: { email: 'renter@example.org', password: 'correct horse battery' } });
  user = api.withToken(session.token);
  userId = session.user.id;
  for (let i = 1; i <= credits; i++) await grantCredit(server.ctx, userId, BigInt(i), `credit number ${i}`);
  const password = readFileSync(join(dataDir, 'operator-password'), 'utf8').trim();
  operator = api.withToken((await api.call('login', { body: { email: 'admin@localhost', password } })).token);
});

after(async () => {
  await testServer?.stop();
});

test('the statement comes a page at a time, oldest first; following `next` gives every line once, in order', async () => {
  const first = await user.call('getStatement');
  assert.equal(first.lines.length, 500, 'the default page');
  assert.ok(first.next);
  const memos: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await user.call('getStatement', { query: { limit: 400, ...(cursor ? { cursor } : {}) } });
    assert.ok(page.lines.length <= 400);
    memos.push(...page.lines.map((l) => l.memo));
    cursor = page.next ?? undefined;
  } while (cursor);
  assert.deepEqual(
    memos,
    Array.from({ length: credits }, (_, i) => `credit number ${i + 1}`),
  );
  const newest = await user.call('getStatement', { query: { order: 'desc', limit: 2 } });
  assert.deepEqual(
    newest.lines.map((l) => l.amountMicros),
    [credits, credits - 1],
  );
  const older = await user.call('getStatement', { query: { order: 'desc', limit: 2, cursor: newest.next! } });
  assert.deepEqual(
    older.lines.map((l) => l.amountMicros),
    [credits - 2, credits - 3],
  );
});

test('a page larger than the maximum, or a cursor the list did not give out, is a 400 on that field', async () => {
  for (const [query, field] of [
    [`limit=${pageLimits.statement + 1}`, 'query.limit'],
    ['cursor=bm90IGEgY3Vyc29y', 'query.cursor'],
    ['cursor=WyJ4IiwxXQ', 'query.cursor'],
  ] as const) {
    const res = await user.call('getStatement', { query: Object.fromEntries(new URLSearchParams(query)) as never }).catch((e) => e);
    assert.equal(res.code, 'invalid_request', query);
    assert.ok(res.fields?.[field], `${query}: ${JSON.stringify(res.fields)}`);
  }
});

test('the statement CSV is the whole statement, streamed in chunks, with the CLI’s columns', async () => {
  const { status, headers, chunks, text } = await new Promise<{
    status: number;
    headers: Record<string, unknown>;
    chunks: number;
    text: string;
  }>((resolve, reject) => {
    const token = (user as unknown as { options: { token: string } }).options.token;
    request(new URL(statementCsvPath, server.apiUrl), { headers: { authorization: `Bearer ${token}` } }, (res) => {
      let text = '';
      let chunks = 0;
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        chunks++;
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, chunks, text }));
    })
      .on('error', reject)
      .end();
  });
  assert.equal(status, 200);
  assert.match(String(headers['content-type']), /^text\/csv/);
  assert.equal(headers['transfer-encoding'], 'chunked', 'streamed, not built whole');
  assert.ok(chunks > 1);
  const lines = text.trimEnd().split('\n');
  assert.equal(lines[0], 'time,account,kind,memo,rental,amount,currency');
  assert.equal(lines.length, credits + 1);
  assert.match(lines[1]!, /^[^,]+,balance,credit,credit number 1,,0\.000001,USD$/);
  assert.match(lines[credits]!, /,balance,credit,credit number 1234,,0\.001234,USD$/);
  const anonymous = await fetch(`${server.apiUrl}${statementCsvPath}`);
  assert.equal(anonymous.status, 401);
});

test("the operator's users and devices lists are paged in the order they were made", async () => {
  const now = Date.parse('2026-06-01T00:00:00Z');
  const rows = Array.from({ length: 250 }, (_, i) => ({
    id: newId(),
    email: `bulk${i}@example.org`,
    password_hash: 'x',
    is_admin: 0,
    created_at: new Date(now + Math.floor(i / 3) * 1000).toISOString(), // equal times, told apart by ID
  }));
  await server.ctx.db.insertInto('users').values(rows).execute();
  await server.ctx.db
    .insertInto('devices')
    .values(
      // Enrolled devices (a port, a time), so that housekeeping leaves them alone.
      rows.map((u, i) => ({
        id: newId(),
        owner_id: u.id,
        name: `pi of ${u.email}`,
        description: '',
        public_key: null,
        hardware: null,
        ssh_port: 40000 + i,
        web_name: newWebName(),
        price_per_hour_micros: null,
        on_market: 0,
        online: 0,
        enrolled_at: u.created_at,
        last_heartbeat_at: null,
        last_seen_at: null,
        listed_since: null,
        created_at: u.created_at,
        removed_at: null,
        storage_fault: null,
        online_since: null,
        online_ms: 0,
        uptime_tracked_since: null,
      })),
    )
    .execute();
  const emails: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await operator.call('adminUsers', { query: { limit: 100, ...(cursor ? { cursor } : {}) } });
    pages++;
    emails.push(...page.users.map((u) => u.email));
    cursor = page.next ?? undefined;
  } while (cursor);
  assert.equal(pages, 3);
  assert.equal(emails.length, 252); // the operator, the renter and the bulk accounts
  assert.equal(new Set(emails).size, emails.length);
  assert.deepEqual(
    emails.filter((e) => e.startsWith('bulk')),
    rows
      .slice()
      .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id))
      .map((r) => r.email),
  );
  const first = await operator.call('adminDevices');
  assert.equal(first.devices.length, 100);
  const second = await operator.call('adminDevices', { query: { cursor: first.next! } });
  const third = await operator.call('adminDevices', { query: { cursor: second.next! } });
  assert.equal(third.next, null);
  assert.equal(new Set([...first.devices, ...second.devices, ...third.devices].map((d) => d.id)).size, 250);
});
