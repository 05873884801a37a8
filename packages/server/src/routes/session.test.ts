import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunningServer } from '../services/server.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';

/**
 * Cookie tossing: a renter's site on a subdomain can set a session cookie for a parent
 * domain, which the browser then sends beside the dashboard's own. Whoever's session
 * comes first would win; the server refuses to pick. Over plain http (the demo) there is
 * no `__Host-` prefix to stop the tossing, so this refusal is the whole defence there.
 */
let testServer: TestServer;
let server: RunningServer;

before(async () => {
  testServer = await startTestServer('session');
  server = testServer.server;
});

after(async () => {
  await testServer?.stop();
});

async function signUp(email: string): Promise<string> {
  const res = await fetch(`${server.apiUrl}/api/v1/auth/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'correct horse battery', signup: true }),
  });
  assert.equal(res.status, 200);
  const cookie = res.headers.get('set-cookie') ?? '';
  assert.match(cookie, /^p2pvps_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/, 'over http: no Secure, no __Host-');
  return cookie.split(';')[0]!;
}

const whoAmI = (cookie: string) => fetch(`${server.apiUrl}/api/v1/auth/session`, { headers: { cookie } });

test('a request carrying two session cookies is refused, so a tossed cookie cannot put a victim into the attacker’s account', async () => {
  const attacker = await signUp('attacker@example.org');
  const victim = await signUp('victim@example.org');
  const alone = await whoAmI(victim);
  assert.equal(((await alone.json()) as { user: { email: string } }).user.email, 'victim@example.org');

  // What the browser sends once a renter page set the attacker's cookie for a parent domain and a longer path: that one first.
  const tossed = await whoAmI(`${attacker}; theme=dark; ${victim}`);
  assert.equal(tossed.status, 401);
  const body = (await tossed.json()) as { code: string; message: string };
  assert.equal(body.code, 'unauthenticated');
  assert.match(body.message, /more than one session cookie/);
  // Other cookies beside one session cookie are fine.
  assert.equal((await whoAmI(`theme=dark; ${victim}`)).status, 200);
});
