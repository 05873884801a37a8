import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { ApiClient } from '@p2pvps/protocol/client';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { operatorClient } from './operator-client.ts';
import type { RunningServer } from './server.ts';

/**
 * The API faces the internet with no proxy in front: slow clients are cut, live-update
 * streams are capped and end with the credentials that opened them, and /metrics is for
 * operators. A real server on loopback, reached through its HTTP front door.
 */
let testServer: TestServer;
let server: RunningServer;
let port: number;
let operator: ApiClient;

before(async () => {
  testServer = await startTestServer('apilimits', {
    P2PVPS_METRICS_PORT: '0',
    P2PVPS_HEAD_TIMEOUT_MS: '500',
    P2PVPS_REQUEST_TIMEOUT_MS: '1000',
    P2PVPS_MAX_EVENT_STREAMS: '12',
  });
  server = testServer.server;
  port = testServer.base;
  operator = await operatorClient(server.apiUrl, testServer.dataDir);
});

after(async () => {
  await testServer?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let users = 0;

async function signup() {
  const api = new ApiClient({ baseUrl: server.apiUrl });
  const email = `user${++users}@example.org`;
  const session = await api.call('signup', { body: { email, password: 'correct horse battery' } });
  return { email, id: session.user.id, token: session.token, api: api.withToken(session.token) };
}

/** A raw connection to the front door that records what it is sent and when it closes. */
async function connect() {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  await new Promise((r) => socket.once('connect', r));
  return { socket, closed, received: () => received };
}

/** Opens a server-sent event stream; resolves once its status is known. */
function openStream(path: string, authorization: string) {
  return new Promise<{ status: number; body: () => string; ended: Promise<void>; close(): void }>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { authorization } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      const ended = new Promise<void>((r) => res.once('close', () => r()));
      resolve({ status: res.statusCode ?? 0, body: () => body, ended, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

/** Waits until `p` settles or `ms` pass; true if it settled. */
async function settles(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([p.then(() => true), sleep(ms).then(() => false)]);
}

test('a request body trickled to the API is answered 408 and the connection closed', async () => {
  const c = await connect();
  const body = JSON.stringify({ email: 'x@example.org', password: 'y'.repeat(40) });
  c.socket.write(
    `POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
  );
  for (const ch of body) {
    if (c.socket.destroyed) break;
    c.socket.write(ch);
    await sleep(100);
  }
  const answer = await c.closed;
  assert.match(answer, /^HTTP\/1\.1 408/, 'cut before the body was complete');
});

test('every request head on a keep-alive API connection has the head deadline', async () => {
  const c = await connect();
  c.socket.write('GET /api/v1/server HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  while (!/"currency"/.test(c.received())) await sleep(10);
  const head = 'GET /api/v1/server HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle: aaaaaaaaaaaaaaaaaaaa\r\n\r\n';
  for (const ch of head) {
    if (c.socket.destroyed) break;
    c.socket.write(ch);
    await sleep(40);
  }
  const answer = await c.closed;
  assert.equal(answer.match(/"currency"/g)?.length, 1, 'the trickled second request was never answered');
  assert.match(answer, /HTTP\/1\.1 408/);
});

test('live-update streams: five per user, then too_many_streams; closing one frees its place', async () => {
  const alice = await signup();
  const streams = [];
  for (let i = 0; i < 5; i++) {
    const s = await openStream('/api/v1/events', `Bearer ${alice.token}`);
    assert.equal(s.status, 200);
    streams.push(s);
  }
  const sixth = await openStream('/api/v1/events', `Bearer ${alice.token}`);
  await sixth.ended;
  assert.equal(sixth.status, 429);
  assert.equal(JSON.parse(sixth.body()).code, 'too_many_streams');
  const bob = await signup();
  const bobs = await openStream('/api/v1/events', `Bearer ${bob.token}`);
  assert.equal(bobs.status, 200, 'another user is not affected');
  streams[0]!.close();
  for (let attempt = 0; ; attempt++) {
    const again = await openStream('/api/v1/events', `Bearer ${alice.token}`);
    if (again.status === 200) {
      streams.push(again);
      break;
    }
    assert.ok(attempt < 50, 'the closed stream’s place comes back');
    await sleep(20);
  }
  // The server's own cap (12 here): Alice holds 5, Bob 1; six more users fill it.
  const others = [];
  for (let i = 0; i < 6; i++) others.push(await openStream('/api/v1/events', `Bearer ${(await signup()).token}`));
  assert.deepEqual(
    others.map((s) => s.status),
    [200, 200, 200, 200, 200, 200],
  );
  const overall = await openStream('/api/v1/events', `Bearer ${(await signup()).token}`);
  await overall.ended;
  assert.equal(overall.status, 429);
  assert.match(JSON.parse(overall.body()).message, /server has too many/);
  for (const s of [...streams, bobs, ...others]) s.close();
});

test('logging out ends the streams of that session; a password change ends those of the other tokens', async () => {
  const carol = await signup();
  const second = await carol.api.call('createApiToken', { body: { name: 'laptop' } });
  const loggedOut = await openStream('/api/v1/events', `Bearer ${carol.token}`);
  const other = await openStream('/api/v1/events', `Bearer ${second.token}`);
  assert.equal(loggedOut.status, 200);
  await carol.api.call('endSession');
  assert.ok(await settles(loggedOut.ended, 10_000), 'the logged-out stream ended');
  assert.equal(await settles(other.ended, 100), false, 'another token’s stream stays');

  const third = await new ApiClient({ baseUrl: server.apiUrl }).call('login', {
    body: { email: carol.email, password: 'correct horse battery' },
  });
  const keeps = await openStream('/api/v1/events', `Bearer ${third.token}`);
  await new ApiClient({ baseUrl: server.apiUrl })
    .withToken(third.token)
    .call('changePassword', { body: { currentPassword: 'correct horse battery', newPassword: 'another horse battery' } });
  assert.ok(await settles(other.ended, 10_000), 'the other token’s stream ended with the password change');
  assert.equal(await settles(keeps.ended, 100), false, 'the stream of the token that changed it stays');
  keeps.close();
});

test('/metrics on the API needs an operator’s token; the metrics listener serves it without one', async () => {
  const get = (path: string, p: number, authorization?: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: p, path, headers: authorization ? { authorization } : {} }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
  const anonymous = await get('/metrics', port);
  assert.equal(anonymous.status, 401);
  assert.equal(JSON.parse(anonymous.body).code, 'unauthenticated');
  const dave = await signup();
  const notOperator = await get('/metrics', port, `Bearer ${dave.token}`);
  assert.equal(notOperator.status, 404, 'hidden from users like every admin route');
  const { token } = await operator.call('createApiToken', { body: { name: 'prometheus' } });
  const scraped = await get('/metrics', port, `Bearer ${token}`);
  assert.equal(scraped.status, 200);
  assert.match(scraped.body, /p2pvps_frontdoor_connections_open \d+/);
  assert.ok(server.metricsPort, 'the separate listener is up');
  const listener = await get('/metrics', server.metricsPort);
  assert.equal(listener.status, 200);
  assert.match(listener.body, /p2pvps_tunnels_up \d+/);
  assert.equal((await get('/api/v1/server', server.metricsPort)).status, 404, 'only /metrics is served there');
});
