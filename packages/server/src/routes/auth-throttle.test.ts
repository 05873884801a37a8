import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { ManualClock } from '../domain/clock.ts';
import type { RunningServer } from '../services/server.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { sourceOf as addressKey } from '../client-source.ts';
import { TokenBuckets } from './auth-throttle.ts';

/**
 * Login, signup and browser-session attempts are limited per peer address and (failed
 * logins) per account: 429 rate_limited with Retry-After, before any password is hashed.
 * Addresses are the real socket peers: each test speaks from its own loopback address.
 */
let testServer: TestServer;
let server: RunningServer;
const clock = new ManualClock();

before(async () => {
  testServer = await startTestServer(
    'throttle',
    {
      P2PVPS_LOGINS_PER_ADDRESS_PER_MINUTE: '5',
      P2PVPS_LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR: '3',
      P2PVPS_SIGNUPS_PER_ADDRESS_PER_HOUR: '2',
    },
    { clock },
  );
  server = testServer.server;
});

after(async () => {
  await testServer?.stop();
});

function post(
  from: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; retryAfter?: string; code?: string }> {
  const url = new URL(path, server.apiUrl);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', localAddress: from, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'], code: (JSON.parse(text) as { code?: string }).code }),
      );
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const login = (from: string, email: string, password: string, headers?: Record<string, string>) =>
  post(from, '/api/v1/auth/login', { email, password }, headers);

test('one address gets its burst of logins, then 429 with Retry-After; another address is not affected; forwarded headers change nothing', async () => {
  const statuses = [];
  for (let i = 0; i < 5; i++) statuses.push((await login('127.0.0.2', `nobody${i}@example.org`, 'wrong password')).status);
  assert.deepEqual(statuses, [401, 401, 401, 401, 401]);
  const limited = await login('127.0.0.2', 'nobody9@example.org', 'wrong password', {
    'x-forwarded-for': '203.0.113.9',
    'x-real-ip': '203.0.113.9',
  });
  assert.equal(limited.status, 429);
  assert.equal(limited.code, 'rate_limited');
  assert.equal(limited.retryAfter, '12'); // 5 a minute: one more every 12 s
  // The browser login shares the limit.
  assert.equal((await post('127.0.0.2', '/api/v1/auth/session', { email: 'a@example.org', password: 'wrong password' })).status, 429);
  assert.equal((await login('127.0.0.3', 'nobody@example.org', 'wrong password')).status, 401);
  clock.advance(12_000);
  assert.equal((await login('127.0.0.2', 'nobody@example.org', 'wrong password')).status, 401);
  assert.equal((await login('127.0.0.2', 'nobody@example.org', 'wrong password')).status, 429);
});

test("an account's failed logins are limited from any address, and its successful logins do not count", async () => {
  assert.equal(
    (await post('127.0.0.4', '/api/v1/auth/signup', { email: 'victim@example.org', password: 'correct horse battery' })).status,
    201,
  );
  for (let i = 0; i < 4; i++) assert.equal((await login('127.0.0.4', 'victim@example.org', 'correct horse battery')).status, 200);
  for (const from of ['127.0.0.5', '127.0.0.6', '127.0.0.7'])
    assert.equal((await login(from, 'victim@example.org', 'guess number one')).status, 401);
  const limited = await login('127.0.0.8', 'victim@example.org', 'correct horse battery');
  assert.equal(limited.status, 429);
  assert.equal(limited.retryAfter, '1200'); // 3 an hour
  clock.advance(1_200_000);
  assert.equal((await login('127.0.0.8', 'victim@example.org', 'correct horse battery')).status, 200);
});

test('one address may create only so many accounts an hour, by the API or the dashboard', async () => {
  assert.equal(
    (await post('127.0.0.9', '/api/v1/auth/signup', { email: 's1@example.org', password: 'correct horse battery' })).status,
    201,
  );
  assert.equal(
    (await post('127.0.0.9', '/api/v1/auth/session', { email: 's2@example.org', password: 'correct horse battery', signup: true })).status,
    200,
  );
  const limited = await post('127.0.0.9', '/api/v1/auth/signup', { email: 's3@example.org', password: 'correct horse battery' });
  assert.equal(limited.status, 429);
  assert.equal(limited.code, 'rate_limited');
  assert.equal(
    (await post('127.0.0.10', '/api/v1/auth/signup', { email: 's3@example.org', password: 'correct horse battery' })).status,
    201,
  );
});

test('buckets are kept per IPv6 /64 and only while not full, and never more than the cap', () => {
  assert.equal(addressKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:db8:1:2::9'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressKey('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(addressKey('127.0.0.1'), '127.0.0.1');
  const c = new ManualClock();
  const buckets = new TokenBuckets(c, 2, 60_000, 10);
  for (let i = 0; i < 50; i++) buckets.take(`k${i}`);
  assert.ok(buckets.size <= 10);
  c.advance(60_000);
  buckets.take('late');
  for (let i = 0; i < 20; i++) buckets.take(`m${i}`);
  assert.ok(buckets.size <= 10);
});
