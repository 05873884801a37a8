import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { createTestCa, type TestCa } from '../testing/test-ca.ts';
import { freePortBlock, startTestServer, type TestServer } from '../testing/test-server.ts';

/**
 * The server's own name over HTTPS, as a browser and stock clients see it: the HTTPS front
 * door ends TLS with the operator's certificate (re-read when renewed) and hands the API
 * the decrypted connection; with an https public URL, plain HTTP redirects, HSTS is sent,
 * and the session cookie is `__Host-` and Secure.
 */
const host = 'market.test';
let testServer: TestServer;
let dir: string;
let ca: TestCa;
let httpPort: number;
let httpsPort: number;
let certFile: string;
let keyFile: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'p2pvps-server-tls-'));
  ca = createTestCa(dir);
  const first = ca.issue('first', [host]);
  certFile = join(dir, 'live-cert.pem');
  keyFile = join(dir, 'live-key.pem');
  copyFileSync(first.certFile, certFile);
  copyFileSync(first.keyFile, keyFile);
  const base = await freePortBlock();
  httpPort = base;
  httpsPort = base + 2;
  testServer = await startTestServer(
    'server-tls',
    {
      P2PVPS_PUBLIC_URL: `https://${host}:${httpsPort}`,
      P2PVPS_WEB_DOMAIN: 'vps.test',
      P2PVPS_TLS_CERT: certFile,
      P2PVPS_TLS_KEY: keyFile,
      P2PVPS_TLS_CHECK_INTERVAL_MS: '100',
    },
    { base },
  );
});

after(async () => {
  await testServer?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function curl(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const resolveName = ['--resolve', `${host}:${httpsPort}:127.0.0.1`, '--resolve', `${host}:${httpPort}:127.0.0.1`];
    execFile('curl', ['-sS', '--max-time', '10', '-i', ...resolveName, ...args], (err, out, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out, err: stderr }),
    );
  });
}

const headerOf = (response: string, name: string) =>
  response
    .split('\r\n\r\n')[0]!
    .split('\r\n')
    .filter((l) => l.toLowerCase().startsWith(`${name}:`))
    .map((l) => l.slice(name.length + 1).trim());
const bodyOf = (response: string) => response.slice(response.indexOf('\r\n\r\n') + 4);

/** The certificate the HTTPS door presents for the server's name, verified against the test CA. */
function servedFingerprint(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: httpsPort, servername: host, ca: readFileSync(ca.caFile) }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

test("the server's own name is served over TLS by the HTTPS front door, verified with the operator's CA", async () => {
  const r = await curl('--cacert', ca.caFile, `https://${host}:${httpsPort}/api/v1/server`);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^HTTP\/1\.1 200/);
  const info = JSON.parse(bodyOf(r.out));
  assert.equal(info.publicUrl, `https://${host}:${httpsPort}`);
  assert.deepEqual(headerOf(r.out, 'strict-transport-security'), ['max-age=31536000'], 'HSTS for this host only');
  // The dashboard too, on the same connection kind.
  const page = await curl('--cacert', ca.caFile, `https://${host}:${httpsPort}/`);
  assert.match(page.out, /^HTTP\/1\.1 200/);
  assert.match(bodyOf(page.out), /<html/i);
});

test('plain HTTP on the server’s name redirects to the https public URL, except ACME challenges and loopback names', async () => {
  const r = await curl(`http://${host}:${httpPort}/account?x=1`);
  assert.match(r.out, /^HTTP\/1\.1 308/);
  assert.deepEqual(headerOf(r.out, 'location'), [`https://${host}:${httpsPort}/account?x=1`]);
  // The web domain itself is one of the server's names too: it goes to the public URL, not to the Host it named.
  const other = await curl('-H', 'Host: vps.test', `http://127.0.0.1:${httpPort}/x`);
  assert.match(other.out, /^HTTP\/1\.1 308/);
  assert.deepEqual(headerOf(other.out, 'location'), [`https://${host}:${httpsPort}/x`]);
  const challenge = await curl(`http://${host}:${httpPort}/.well-known/acme-challenge/nosuchtoken`);
  assert.match(challenge.out, /^HTTP\/1\.1 404/);
  assert.equal(JSON.parse(bodyOf(challenge.out)).code, 'not_found');
  const local = await curl(`http://127.0.0.1:${httpPort}/api/v1/server`);
  assert.match(local.out, /^HTTP\/1\.1 200/);
  assert.deepEqual(headerOf(local.out, 'strict-transport-security'), [], 'no HSTS over plain HTTP');
});

test('over https the session cookie is __Host- prefixed, Secure and host-only; two session cookies are refused', async () => {
  const signup = await curl(
    '--cacert',
    ca.caFile,
    '-X',
    'POST',
    '-H',
    'content-type: application/json',
    '-d',
    '{"email":"victim@example.org","password":"correct horse battery","signup":true}',
    `https://${host}:${httpsPort}/api/v1/auth/session`,
  );
  assert.match(signup.out, /^HTTP\/1\.1 200/, signup.err);
  const [cookie] = headerOf(signup.out, 'set-cookie');
  assert.match(cookie ?? '', /^__Host-p2pvps_session=p2pvps_session_[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
  assert.doesNotMatch(cookie!, /Domain=/i);
  const pair = cookie!.split(';')[0]!;
  const me = await curl('--cacert', ca.caFile, '-H', `Cookie: ${pair}`, `https://${host}:${httpsPort}/api/v1/auth/session`);
  assert.equal(JSON.parse(bodyOf(me.out)).user.email, 'victim@example.org');
  // A tossed cookie next to the real one: neither is trusted.
  const tossed = await curl(
    '--cacert',
    ca.caFile,
    '-H',
    `Cookie: __Host-p2pvps_session=p2pvps_session_attacker; ${pair}`,
    `https://${host}:${httpsPort}/api/v1/auth/session`,
  );
  assert.match(tossed.out, /^HTTP\/1\.1 401/);
  assert.match(JSON.parse(bodyOf(tossed.out)).message, /more than one session cookie/);
  // The unprefixed name a renter page could set for a parent domain is not read at all.
  const plain = await curl('--cacert', ca.caFile, '-H', `Cookie: ${pair.replace('__Host-', '')}`, `https://${host}:${httpsPort}/api/v1/me`);
  assert.match(plain.out, /^HTTP\/1\.1 401/);
});

test('renewed certificate files are served without a restart', async () => {
  const before = await servedFingerprint();
  const renewed = ca.issue('renewed', [host]);
  // Key first, as certbot's symlink swap would leave them: a mismatched pair is not taken in the meantime.
  copyFileSync(renewed.keyFile, keyFile);
  copyFileSync(renewed.certFile, certFile);
  const want = new X509Certificate(readFileSync(renewed.certFile)).fingerprint256;
  assert.notEqual(want, before);
  let served = before;
  for (let i = 0; i < 100 && served !== want; i++) {
    await new Promise((r) => setTimeout(r, 100));
    served = await servedFingerprint();
  }
  assert.equal(served, want);
});

test('without SNI, or for an unknown name, the HTTPS door still answers with an unrecognized_name alert', async () => {
  const r = await new Promise<string>((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port: httpsPort, rejectUnauthorized: false });
    socket.on('error', (err) => resolve(err.message));
    socket.on('secureConnect', () => resolve('connected'));
  });
  assert.match(r, /unrecognized name|alert number 112/i);
});
