import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '@p2pvps/protocol/client';
import { ApiErrorBody, errorCodes } from '@p2pvps/protocol/errors';
import { buildPath, routes, type RouteContract } from '@p2pvps/protocol/routes';
import { z } from 'zod';
import type { RunningServer } from '../services/server.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';

/**
 * Every route, fed malformed and hostile input, answers 4xx with a documented error
 * code and changes nothing in the database.
 */
let testServer: TestServer;
let server: RunningServer;
let dataDir: string;
let token: string;
let adminToken: string;
let deviceId: string;

before(async () => {
  testServer = await startTestServer('badinput');
  ({ server, dataDir } = testServer);
  const api = new ApiClient({ baseUrl: server.apiUrl });
  const session = await api.call('signup', { body: { email: 'owner@example.org', password: 'correct horse battery' } });
  token = session.token;
  deviceId = (await api.withToken(token).call('addDevice', { body: { name: 'pi' } })).device.id;
  // Admin routes authenticate first (a user is told they do not exist): only the operator reaches their validation.
  const operatorPassword = readFileSync(join(dataDir, 'operator-password'), 'utf8').trim();
  adminToken = (await api.call('login', { body: { email: 'admin@localhost', password: operatorPassword } })).token;
});

after(async () => {
  await testServer?.stop();
});

async function snapshot(): Promise<string> {
  const tables = [
    'users',
    'api_tokens',
    'devices',
    'enrolment_tokens',
    'rentals',
    'ledger_accounts',
    'ledger_entries',
    'payouts',
    'ssh_keys',
    'mail_messages',
    'reviews',
    'disputes',
    'rental_events',
    'federation_peers',
    'peer_listings',
  ] as const;
  const parts = await Promise.all(tables.map((t) => server.ctx.db.selectFrom(t).selectAll().execute()));
  // When a token was last used is bookkeeping of the (valid) login, not a change the bad request made.
  return JSON.stringify(parts, (key, value) => (key === 'last_used_at' ? undefined : value));
}

interface Case {
  name: string;
  path?: string;
  query?: string;
  body?: string;
  contentType?: string;
}

/** Wrong values for each property the schema declares: the wrong type, absurd sizes, nulls. */
function hostileBodies(schema: z.ZodType): Case[] {
  const js = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, { type?: string }> };
  const cases: Case[] = [
    { name: 'malformed JSON', body: '{"a":' },
    { name: 'JSON null', body: 'null' },
    { name: 'an array', body: '[1,2]' },
    { name: 'a string', body: '"hello"' },
    { name: 'a number', body: '42' },
    { name: 'prototype pollution', body: '{"__proto__":{"isAdmin":true},"constructor":{"prototype":{"x":1}}}' },
    { name: 'an unknown field', body: '{"isAdmin":true}' },
    { name: 'text/plain', body: 'hello', contentType: 'text/plain' },
    { name: 'a body over the size limit', body: JSON.stringify({ x: 'y'.repeat(300_000) }) },
  ];
  for (const [prop, def] of Object.entries(js.properties ?? {})) {
    const wrong =
      def.type === 'string'
        ? [123, { nested: true }, 'x'.repeat(20_000)]
        : def.type === 'boolean'
          ? ['yes', 1]
          : ['12', -1, 1e300, 1.5, true];
    for (const value of [...wrong, null])
      cases.push({ name: `${prop} = ${JSON.stringify(value).slice(0, 20)}`, body: JSON.stringify({ [prop]: value }) });
  }
  return cases;
}

function hostileParams(contract: RouteContract): Case[] {
  if (!contract.params) return [];
  return ['..%2F..%2Fetc%2Fpasswd', 'A'.repeat(300), '%00', "x'%20OR%201=1", 'UPPERCASE1'].map((bad) => ({
    name: `path parameter ${bad.slice(0, 20)}`,
    path: contract.path.replace(/:[A-Za-z]+/g, bad),
  }));
}

function hostileQueries(contract: RouteContract): Case[] {
  if (!contract.query) return [];
  return ['sort=evil', 'minCores=abc', 'maxPriceMicros=-5', 'unknown=1', 'all=maybe', 'minMemoryBytes=1e999'].map((q) => ({
    name: `query ${q}`,
    query: q,
  }));
}

for (const [name, contract] of Object.entries(routes) as [string, RouteContract][]) {
  const cases = [...(contract.body ? hostileBodies(contract.body) : []), ...hostileParams(contract), ...hostileQueries(contract)];
  if (cases.length === 0) continue;
  test(`${contract.method} ${contract.path} (${name}) rejects bad input and changes nothing`, async () => {
    for (const c of cases) {
      const before = await snapshot();
      const path =
        c.path ??
        buildPath(contract.path, {
          deviceId,
          rentalId: 'nosuchrental1',
          payoutId: 'nosuchpayout1',
          tokenId: 'nosuchtoken1',
          keyId: 'nosuchkey1',
          sessionId: 'nosuchsession1',
          reviewId: 'nosuchreview1',
          disputeId: 'nosuchdispute1',
          peerId: 'nosuchpeer1',
        });
      const headers: Record<string, string> = { authorization: `Bearer ${contract.auth === 'admin' ? adminToken : token}` };
      if (c.body !== undefined) headers['content-type'] = c.contentType ?? 'application/json';
      const res = await fetch(`${server.apiUrl}${path}${c.query ? `?${c.query}` : ''}`, { method: contract.method, headers, body: c.body });
      const text = await res.text();
      const label = `${name}: ${c.name} → HTTP ${res.status} ${text.slice(0, 200)}`;
      assert.ok(res.status >= 400 && res.status < 500, label);
      const envelope = ApiErrorBody.safeParse(JSON.parse(text));
      assert.ok(envelope.success, `${label} (not the error envelope)`);
      assert.ok(envelope.data.code in errorCodes, `${label} (undocumented code)`);
      assert.ok(envelope.data.message.length > 10, label);
      assert.equal(await snapshot(), before, `${label} changed the database`);
    }
  });
}

test('an anonymous caller to a route that needs a login gets 401, never a field-level 400', async () => {
  for (const [name, contract] of Object.entries(routes) as [string, RouteContract][]) {
    if (contract.auth === 'none') continue;
    const path = buildPath(contract.path, {
      deviceId,
      rentalId: 'nosuchrental1',
      payoutId: 'p',
      tokenId: 't',
      keyId: 'k',
      sessionId: 's',
      windowId: 'w',
      reviewId: 'r',
      disputeId: 'd',
      peerId: 'nosuchpeer1',
    });
    const res = await fetch(`${server.apiUrl}${path}?unknown=1`, {
      method: contract.method,
      headers: contract.method === 'GET' || contract.method === 'DELETE' ? {} : { 'content-type': 'application/json' },
      body: contract.method === 'GET' || contract.method === 'DELETE' ? undefined : '{"isAdmin":true,"amountMicros":"lots"}',
    });
    const body = (await res.json()) as { code: string; fields?: unknown };
    assert.equal(res.status, 401, `${name}: ${JSON.stringify(body)}`);
    assert.equal(body.code, contract.auth === 'device' ? 'device_auth_failed' : 'unauthenticated', name);
    assert.equal(body.fields, undefined, name);
  }
});

test('unknown routes and methods get the envelope too', async () => {
  for (const [method, path] of [
    ['GET', '/api/v1/nope'],
    ['PUT', '/api/v1/devices'],
    ['DELETE', '/api/v1/market'],
  ] as const) {
    const res = await fetch(`${server.apiUrl}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { code: string }).code, 'route_not_found');
  }
});
