import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { operatorClient } from '@p2pvps/server/services/operator-client';
import {
  containerNetwork,
  createRentedDevice,
  createServer,
  createUser,
  openSsh,
  removeDeviceContainers,
  tempDir,
  waitFor,
  type RentedDevice,
  type TestServer,
  runCommand,
} from './harness.ts';
import { serveWeb as serveWebIn } from './renter-web.ts';
import { createTestCa, type TestCa } from '@p2pvps/server/testing/test-ca';

/**
 * Every device on the web: a page served inside a rented container is reached by the
 * device's name through the server's HTTP front door, and over HTTPS with the
 * container's own certificate through the TLS front door (SNI passthrough), with stock
 * curl and openssl as the visitors. Another name never reaches it. The same door ends TLS
 * for the server's own name (here the web domain itself) with the operator's certificate.
 */
const webDomain = 'vps.test';
let server: TestServer;
let httpsPort: number;
let a: RentedDevice;
let b: RentedDevice;
let renter: Awaited<ReturnType<typeof createUser>>;
let ownCa: TestCa;

/** Starts the web server in the rental's container over ssh (renter-web.ts). */
function serveWeb(device: RentedDevice, name: string): Promise<string> {
  return serveWebIn(device.ssh, device.rental.connection.webHost, name);
}

/** Stock curl as a visitor of `host`, resolved to the server's front door: `-i` with the response head for HTTP. */
const curl = (host: string, path: string, ...extra: string[]) =>
  runCommand('curl', [
    '-sS',
    '--max-time',
    '10',
    '-i',
    '--resolve',
    `${host}:${server.httpPort}:127.0.0.1`,
    ...extra,
    `http://${host}:${server.httpPort}${path}`,
  ]);
const curlTls = (host: string, path: string, ...extra: string[]) =>
  runCommand('curl', [
    '-sS',
    '--max-time',
    '10',
    '--resolve',
    `${host}:${httpsPort}:127.0.0.1`,
    ...extra,
    `https://${host}:${httpsPort}${path}`,
  ]);

/** Opens a raw connection to a front door and sends `data`; resolves with everything it got back once closed. */
function raw(port: number, data: string, keepOpenMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(data));
    let got = '';
    socket.on('data', (d) => (got += d));
    socket.on('error', reject);
    socket.on('close', () => resolve(got));
    if (keepOpenMs) setTimeout(() => socket.destroy(), keepOpenMs);
  });
}

before(async () => {
  ownCa = createTestCa(tempDir('web-ca'));
  const own = ownCa.issue('server', [webDomain]);
  server = await createServer({
    env: {
      P2PVPS_WEB_DOMAIN: webDomain,
      P2PVPS_MAX_CONNECTIONS_PER_DEVICE: '3',
      P2PVPS_HEAD_TIMEOUT_MS: '1000',
      P2PVPS_TLS_CERT: own.certFile,
      P2PVPS_TLS_KEY: own.keyFile,
    },
  });
  httpsPort = server.running.httpsPort;
  const owner = await createUser(server, 'owner');
  renter = await createUser(server, 'renter');
  a = await createRentedDevice(server, owner, renter, 'alpha');
  b = await createRentedDevice(server, owner, renter, 'bravo');
  await serveWeb(a, 'alpha');
  await serveWeb(b, 'bravo');
  for (const d of [a, b]) {
    await waitFor('the web server in the container', async () => (await curl(d.rental.connection.webHost, '/')).stdout.includes(' 200 '));
  }
});

after(async () => {
  for (const d of [a, b]) {
    await d?.agent.stop();
    await removeDeviceContainers(d?.deviceId);
  }
  await server?.stop();
});

test('the rental shows the device web name, and the container knows which ports to serve on', async () => {
  const c = a.rental.connection;
  assert.match(c.webHost, new RegExp(`^[a-z][a-z0-9]{7}\\.${webDomain.replace('.', '\\.')}$`));
  assert.notEqual(c.webHost, b.rental.connection.webHost);
  assert.ok(!c.webHost.includes(a.deviceId), 'the name is not derived from the device ID');
  assert.equal(c.httpUrl, `http://${c.webHost}:${server.httpPort}/`);
  assert.equal(c.httpsUrl, `https://${c.webHost}:${httpsPort}/`);
  const env = await openSsh(a.ssh, 'echo $P2PVPS_HTTP_PORT $P2PVPS_HTTPS_PORT');
  // On its own network the container serves the standard ports; sharing the host's, the agent's loopback ports.
  const expected = containerNetwork === 'bridge' ? '80 443' : `${a.agent.containerHttpPort} ${a.agent.containerHttpsPort}`;
  assert.equal(env.stdout.trim(), expected);
});

test('HTTP by name reaches port 80 of the rented container, with the visitor address; another name does not', async () => {
  const r = await curl(a.rental.connection.webHost, '/page?x=1', '-H', 'X-Forwarded-For: 6.6.6.6');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^HTTP\/1\.1 200/);
  assert.match(r.stdout, /hello from alpha proto=http for=127\.0\.0\.1 path=\/page\?x=1\n$/, 'a spoofed X-Forwarded-For is replaced');
  const other = await curl(b.rental.connection.webHost, '/');
  assert.match(other.stdout, /hello from bravo/);
  assert.doesNotMatch(other.stdout, /alpha/);

  // Two requests on one keep-alive connection: both are routed and both carry the header.
  const twice = await runCommand('curl', [
    '-sS',
    '-v',
    '--resolve',
    `${a.rental.connection.webHost}:${server.httpPort}:127.0.0.1`,
    `http://${a.rental.connection.webHost}:${server.httpPort}/one`,
    `http://${a.rental.connection.webHost}:${server.httpPort}/two`,
  ]);
  assert.match(twice.stdout, /path=\/one\n.*for=127\.0\.0\.1 path=\/two\n/s);
  assert.match(twice.stderr, /Re-using existing connection/i);
});

test('a request hidden behind an upgrade the container declined still gets our X-Forwarded-For (the audit probe)', async () => {
  // Python's http.server ignores Upgrade and reads the next request on the connection.
  const host = a.rental.connection.webHost;
  const socket = net.connect(server.httpPort, '127.0.0.1');
  let got = '';
  socket.on('data', (d) => (got += d));
  socket.on('error', () => {});
  socket.write(
    `GET /first HTTP/1.1\r\nHost: ${host}\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n` +
      `GET /hidden HTTP/1.1\r\nHost: ${host}\r\nX-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n\r\n`,
  );
  await waitFor('both answers', async () => /path=\/hidden/.test(got) || socket.destroyed);
  socket.destroy();
  assert.match(got, /for=127\.0\.0\.1 path=\/hidden\n/, 'the visitor’s own X-Forwarded-For was replaced');
  assert.doesNotMatch(got, /6\.6\.6\.6/);
});

test('an unknown name gets a small error page, and the server name still reaches the API', async () => {
  const unknown = await curl(`nosuchname.${webDomain}`, '/');
  assert.match(unknown.stdout, /^HTTP\/1\.1 404/);
  assert.match(unknown.stdout, /X-P2PVPS-Error: unknown_name/i);
  assert.match(unknown.stdout, /There is no site at nosuchname\.vps\.test/);
  const foreign = await curl('example.org', '/');
  assert.match(foreign.stdout, /^HTTP\/1\.1 404/);
  const api = await runCommand('curl', ['-sS', `http://127.0.0.1:${server.httpPort}/api/v1/server`]);
  assert.equal(JSON.parse(api.stdout).name, 'local');
});

test('HTTPS by SNI is passed through to port 443 of the container: its own certificate, verified', async () => {
  const host = a.rental.connection.webHost;
  const cert = await openSsh(a.ssh, 'cat cert.pem');
  const caFile = join(tempDir('web'), 'alpha.pem');
  writeFileSync(caFile, cert.stdout);
  // Verified against the container's self-signed certificate: only the container holds its key.
  const verified = await curlTls(host, '/tls', '--cacert', caFile);
  assert.equal(verified.code, 0, verified.stderr);
  assert.equal(verified.stdout, 'hello from alpha proto=tls-direct for=- path=/tls\n');

  const sClient = await runCommand(
    'openssl',
    ['s_client', '-connect', `127.0.0.1:${httpsPort}`, '-servername', host, '-CAfile', caFile, '-verify_return_error', '-quiet'],
    `GET /s HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
  );
  assert.match(sClient.stderr, new RegExp(`subject=CN *= *${host.replace(/\./g, '\\.')}|CN = ${host.replace(/\./g, '\\.')}`));
  assert.match(sClient.stdout, /hello from alpha proto=tls-direct for=- path=\/s/);

  // The other device's name reaches the other container, with its own certificate, so this CA does not verify it.
  const bHost = b.rental.connection.webHost;
  const wrong = await curlTls(bHost, '/', '--cacert', caFile);
  assert.notEqual(wrong.code, 0, 'alpha’s certificate is not served for bravo');
  const bravo = await curlTls(bHost, '/', '--insecure');
  assert.match(bravo.stdout, /hello from bravo/);

  const unknown = await runCommand(
    'openssl',
    ['s_client', '-connect', `127.0.0.1:${httpsPort}`, '-servername', `nosuch.${webDomain}`],
    'x',
  );
  assert.match(unknown.stdout + unknown.stderr, /unrecognized name|alert number 112/i);
  assert.doesNotMatch(unknown.stdout, /hello from/);
});

test("the HTTPS door ends TLS for the server's own name, and still passes device names through untouched", async () => {
  const own = await curlTls(webDomain, '/api/v1/server', '--cacert', ownCa.caFile);
  assert.equal(own.code, 0, own.stderr);
  assert.equal(JSON.parse(own.stdout).name, 'local');
  // A device's name on the same door is not ours to decrypt: the container answers with its own certificate.
  const device = await curlTls(a.rental.connection.webHost, '/', '--cacert', ownCa.caFile);
  assert.notEqual(device.code, 0, 'the operator certificate is never presented for a device name');
  const passed = await curlTls(a.rental.connection.webHost, '/pass', '--insecure');
  assert.equal(passed.stdout, 'hello from alpha proto=tls-direct for=- path=/pass\n');
});

test('the front doors guard themselves: slow heads, huge heads, and a flood at one device', async () => {
  const slow = await raw(server.httpPort, 'GET / HTTP/1.1\r\nHost: x');
  assert.match(slow, /^HTTP\/1\.1 408/, 'a head that never ends is cut off');
  const huge = await raw(server.httpPort, `GET / HTTP/1.1\r\nHost: ${a.rental.connection.webHost}\r\nX: ${'y'.repeat(20_000)}\r\n\r\n`);
  assert.match(huge, /^HTTP\/1\.1 431/);
  const notTls = await raw(httpsPort, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.equal(notTls, '', 'plain text on the TLS door is closed without a word');

  // Three keep-alive connections hold alpha at its cap; a fourth is turned away, bravo is unaffected.
  const hostA = a.rental.connection.webHost;
  const held: net.Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const socket = net.connect(server.httpPort, '127.0.0.1');
    await new Promise<void>((resolve) => {
      socket.once('data', () => resolve());
      socket.write(`GET /hold HTTP/1.1\r\nHost: ${hostA}\r\n\r\n`);
    });
    held.push(socket);
  }
  const refused = await curl(hostA, '/');
  assert.match(refused.stdout, /^HTTP\/1\.1 503/);
  assert.match(refused.stdout, /X-P2PVPS-Error: device_busy/i);
  assert.match((await curl(b.rental.connection.webHost, '/')).stdout, /hello from bravo/, 'another device is not starved');
  for (const s of held) s.destroy();
  await waitFor('alpha to accept again', async () => (await curl(hostA, '/')).stdout.includes('hello from alpha'));
});

/** /metrics as Prometheus scrapes it: with an operator's API token. */
async function scrapeMetrics(): Promise<string> {
  server.operator ??= operatorClient(`http://127.0.0.1:${server.httpPort}`, server.dataDir);
  const { token } = await (await server.operator).call('createApiToken', { body: { name: 'prometheus' } });
  const anonymous = await runCommand('curl', [
    '-sS',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    `http://127.0.0.1:${server.httpPort}/metrics`,
  ]);
  assert.equal(anonymous.stdout, '401', 'not without a token');
  return (await runCommand('curl', ['-sS', '-H', `authorization: Bearer ${token}`, `http://127.0.0.1:${server.httpPort}/metrics`])).stdout;
}

test('bytes are counted per device and per rental and exposed with tunnel metrics at /metrics, to operators', async () => {
  await curl(a.rental.connection.webHost, `/${'z'.repeat(1000)}`);
  const metrics = await scrapeMetrics();
  const value = (re: RegExp) => Number(metrics.match(re)?.[1] ?? 'NaN');
  assert.ok(value(new RegExp(`p2pvps_device_bytes_total\\{device="${a.deviceId}",direction="in"\\} (\\d+)`)) > 1000);
  assert.ok(value(new RegExp(`p2pvps_rental_bytes_total\\{rental="${a.rental.id}",direction="out"\\} (\\d+)`)) > 0);
  assert.ok(
    value(new RegExp(`p2pvps_device_connections_total\\{device="${a.deviceId}",kind="ssh"\\} (\\d+)`)) >= 1,
    'ssh logins count too',
  );
  assert.equal(value(/p2pvps_tunnels_up (\d+)/), 2);
  assert.ok(value(/p2pvps_tunnel_handshake_seconds_count (\d+)/) >= 2);
  assert.ok(value(/p2pvps_frontdoor_connections_total\{door="http",outcome="unknown_name"\} (\d+)/) >= 1);
});

test('a device whose rental ended serves nothing on its name', async () => {
  await renter.api.call('stopRental', { params: { rentalId: b.rental.id } });
  const r = await curl(b.rental.connection.webHost, '/');
  assert.match(r.stdout, /^HTTP\/1\.1 503/);
  assert.match(r.stdout, /X-P2PVPS-Error: no_rental/i);
  assert.doesNotMatch(r.stdout, /hello from/);
  await waitFor('the rental to end', async () => {
    const rental = await renter.api.call('getRental', { params: { rentalId: b.rental.id } });
    return rental.state === 'ended';
  });
});

test("an ended rental's series leave /metrics; running rentals keep theirs", async () => {
  const metrics = await scrapeMetrics();
  assert.doesNotMatch(metrics, new RegExp(`rental="${b.rental.id}"`));
  assert.match(metrics, new RegExp(`p2pvps_rental_bytes_total\\{rental="${a.rental.id}",direction="in"\\} \\d+`));
});
