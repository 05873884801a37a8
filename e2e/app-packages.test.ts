import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Rental } from '@p2pvps/protocol/schemas';
import { ApiError } from '@p2pvps/protocol/client';
import { defaultAppPackagesDir } from '@p2pvps/server/services/app-catalogue';
import {
  containerNetwork,
  createAgent,
  createServer,
  createSshKey,
  createUser,
  openSsh,
  removeDeviceContainers,
  runCommand,
  tempDir,
  waitFor,
  type TestAgent,
  type TestServer,
} from './harness.ts';

/**
 * Deployment packages in real rentals, one after another on one device: each is rented
 * with its package, the agent installs it from the image's offline apt repository inside
 * the container as root, starts it and checks its health; the test then reaches it through
 * the front door as a visitor would (HTTP by the device's web name, HTTPS by SNI with the
 * certificate the package's own ACME client got). A deliberately broken package ends its
 * rental with its log shown and the held money returned. Owners refuse packages per device.
 */
const webDomain = 'vps.test';
let server: TestServer;
let httpsPort: number;
let agent: TestAgent;
let deviceId: string;
let owner: Awaited<ReturnType<typeof createUser>>;
let renter: Awaited<ReturnType<typeof createUser>>;
const key = createSshKey();

/** Time from rent to healthy, per package (printed at the end; bench material, not asserted). */
const timings: Record<string, number> = {};

const curl = (host: string, path: string, ...extra: string[]) =>
  runCommand('curl', [
    '-sS',
    '--max-time',
    '10',
    '--resolve',
    `${host}:${server.httpPort}:127.0.0.1`,
    ...extra,
    `http://${host}:${server.httpPort}${path}`,
  ]);

const getRental = (id: string) => renter.api.call('getRental', { params: { rentalId: id } });

/** Rents the device with a package and waits until it is healthy (the rental is active then). */
async function rentWith(name: string, settings: Record<string, string> = {}): Promise<Rental> {
  await waitFor(
    'the device to be listed again',
    async () => (await renter.api.call('market', { query: {} })).listings.some((l) => l.deviceId === deviceId),
    60_000,
  );
  const began = Date.now();
  const rental = await renter.api.call('rent', { body: { deviceId, sshPublicKey: key.publicKey, package: { name, settings } } });
  assert.equal(rental.app?.name, name);
  const healthy = await waitFor(
    `package ${name} to be healthy`,
    async () => {
      const r = await getRental(rental.id);
      return (r.state === 'active' && r.app?.state === 'healthy') || r.state === 'ending' || r.state === 'ended' ? r : undefined;
    },
    400_000,
    500,
  );
  assert.equal(healthy.state, 'active', `the rental ended: ${healthy.endReason} ${healthy.detail}`);
  timings[name] = Date.now() - began;
  assert.ok(healthy.app!.addresses.length > 0, 'a healthy package says where it answers');
  assert.match(healthy.app!.log, new RegExp(`p2pvps: ${name} is healthy`));
  return healthy;
}

async function stop(rental: Rental): Promise<void> {
  await renter.api.call('stopRental', { params: { rentalId: rental.id } });
  await waitFor('the rental to end', async () => (await getRental(rental.id)).state === 'ended', 60_000);
}

before(async () => {
  assert.equal(
    containerNetwork,
    'bridge',
    'run this with "scripts/test e2e/app-packages.test.ts" (root in the container needs the tests\' engine)',
  );
  // The catalogue as shipped, and one package that is broken on purpose.
  const apps = tempDir('apps');
  cpSync(defaultAppPackagesDir, apps, { recursive: true, filter: (f) => !f.endsWith('.test.ts') });
  writeFileSync(
    join(apps, 'broken.json'),
    JSON.stringify({
      name: 'broken',
      description: 'Fails its setup on purpose.',
      debianPackages: ['nginx-light'],
      setup: ['echo "the setup of broken ran out of luck" >&2; exit 3'],
      start: 'sleep infinity',
      ports: [{ kind: 'http', port: 80 }],
      health: { http: { port: 80, path: '/' } },
    }),
  );
  server = await createServer({ env: { P2PVPS_WEB_DOMAIN: webDomain, P2PVPS_APP_PACKAGES_DIR: apps } });
  httpsPort = server.running.httpsPort;
  owner = await createUser(server, 'owner');
  renter = await createUser(server, 'renter');
  const grant = await owner.api.call('addDevice', { body: { name: 'apps-pi' } });
  deviceId = grant.device.id;
  agent = await createAgent(server, grant.enrolmentToken, { storage: { kind: 'image', sizeMiB: 256 } });
  await waitFor('the device to come online', async () => (await owner.api.call('getDevice', { params: { deviceId } })).online);
  await owner.api.call('updateDevice', { params: { deviceId }, body: { pricePerHourMicros: 10_000, onMarket: true } });
});

after(async () => {
  console.log(`time from rent to healthy: ${JSON.stringify(timings)}`);
  await agent?.stop();
  await removeDeviceContainers(deviceId);
  await server?.stop();
});

test('the catalogue is listed, and an owner refusing a package takes the device out of that market and refuses the rent', async () => {
  const { packages } = await renter.api.call('appPackages', { query: {} });
  assert.deepEqual(
    packages.map((p) => p.name),
    ['broken', 'git-server', 'static-site', 'tor-onion', 'wiki', 'wireguard'],
  );
  const refused = await owner.api.call('updateDevice', { params: { deviceId }, body: { refusedPackages: ['tor-onion'] } });
  assert.deepEqual(refused.refusedPackages, ['tor-onion']);
  const market = async (p: string) => (await renter.api.call('market', { query: { package: p } })).listings.map((l) => l.deviceId);
  assert.deepEqual(await market('tor-onion'), []);
  assert.deepEqual(await market('wiki'), [deviceId]);
  const err = await renter.api.call('rent', { body: { deviceId, package: { name: 'tor-onion', settings: {} } } }).catch((e: unknown) => e);
  assert.ok(err instanceof ApiError);
  assert.equal(err.code, 'package_refused');
  const unknownSetting = await renter.api
    .call('rent', { body: { deviceId, package: { name: 'wiki', settings: { NOPE: 'x' } } } })
    .catch((e: unknown) => e);
  assert.ok(unknownSetting instanceof ApiError);
  assert.equal(unknownSetting.code, 'invalid_request');
  assert.match(unknownSetting.message, /has no setting NOPE/);
  await owner.api.call('updateDevice', { params: { deviceId }, body: { refusedPackages: [] } });
  assert.deepEqual(await market('tor-onion'), [deviceId]);
});

test('git-server: gitweb lists the first repository over HTTP by the web name', async () => {
  const rental = await rentWith('git-server', { REPOSITORY: 'hello' });
  const host = rental.connection.webHost;
  const page = await curl(host, '/gitweb.cgi');
  assert.equal(page.code, 0, page.stderr);
  assert.match(page.stdout, /hello\.git/);
  assert.match(page.stdout, new RegExp(`hello on ${host.replace(/\./g, '\\.')}`));
  assert.deepEqual(rental.app!.addresses[0], rental.connection.httpUrl);
  await stop(rental);
});

test('tor-onion: tor runs (socks port), and the site on the web name gives its .onion address', async () => {
  const rental = await rentWith('tor-onion', { SITE_TITLE: 'Onion test' });
  const page = await curl(rental.connection.webHost, '/');
  assert.match(page.stdout, /<h1>Onion test<\/h1>/);
  assert.match(page.stdout, /Onion address: [a-z2-7]{56}\.onion/);
  await stop(rental);
});

test('static-site: HTTPS by SNI with the certificate its own ACME client got (pebble in the rental)', async () => {
  const rental = await rentWith('static-site', { SITE_TITLE: 'Hello TLS', ACME_DIRECTORY: 'pebble' });
  const host = rental.connection.webHost;
  const http = await curl(host, '/');
  assert.match(http.stdout, /<h1>Hello TLS<\/h1>/);
  const https = await runCommand('curl', [
    '-sS',
    '-k',
    '--max-time',
    '10',
    '--resolve',
    `${host}:${httpsPort}:127.0.0.1`,
    `https://${host}:${httpsPort}/`,
  ]);
  assert.equal(https.code, 0, https.stderr);
  assert.match(https.stdout, /<h1>Hello TLS<\/h1>/);
  const cert = await runCommand('bash', [
    '-c',
    `openssl s_client -connect 127.0.0.1:${httpsPort} -servername ${host} </dev/null 2>/dev/null | openssl x509 -noout -issuer -ext subjectAltName`,
  ]);
  assert.match(cert.stdout, /issuer=CN = Pebble Intermediate CA/);
  assert.match(cert.stdout, new RegExp(`DNS:${host.replace(/\./g, '\\.')}`));
  await stop(rental);
});

test('wiki: DokuWiki answers on the web name with its title', async () => {
  const rental = await rentWith('wiki', { WIKI_TITLE: 'Test wiki' });
  const page = await curl(rental.connection.webHost, '/doku.php?id=start');
  assert.equal(page.code, 0, page.stderr);
  assert.match(page.stdout, /Test wiki/);
  await stop(rental);
});

test("wireguard: wg0 listens on the chosen port, and a client made from the renter's configuration completes a handshake", async () => {
  const rental = await rentWith('wireguard', { LISTEN_PORT: '51999' });
  const root = { port: rental.connection.port, user: 'root', identity: key.privatePath };
  const shown = await openSsh(root, 'wg show wg0 listen-port; cat /root/wireguard-client.conf');
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /^51999\n/);
  assert.match(shown.stdout, /\[Interface\]\nPrivateKey = \S+=\nAddress = 10\.77\.0\.2\/24/);
  assert.match(shown.stdout, new RegExp(`Endpoint = ${rental.connection.webHost.replace(/\./g, '\\.')}:51999`));
  // UDP does not cross the tunnel, so the client is a second user-space interface in the
  // same container, made from the configuration the renter downloads, aimed at loopback.
  const handshake = await openSsh(
    root,
    [
      'set -e; conf=/root/wireguard-client.conf; umask 077',
      'sed -n "s/^PrivateKey = //p" $conf >/tmp/client.key',
      '(WG_PROCESS_FOREGROUND=1 setsid wireguard-go wg1 >/dev/null 2>&1 &)',
      'for _ in $(seq 50); do ip link show wg1 >/dev/null 2>&1 && break; sleep 0.2; done',
      'wg set wg1 private-key /tmp/client.key peer "$(sed -n "s/^PublicKey = //p" $conf)" endpoint 127.0.0.1:51999 allowed-ips 10.77.0.1/32 persistent-keepalive 1',
      'ip link set wg1 up',
      'for _ in $(seq 50); do wg show wg0 latest-handshakes | grep -qv "[[:space:]]0$" && break; sleep 0.2; done',
      'wg show wg0 latest-handshakes',
    ].join('\n'),
  );
  assert.equal(handshake.code, 0, handshake.stderr);
  const [, when] = handshake.stdout.trim().split(/\s+/);
  assert.ok(Number(when) > 0, `the endpoint saw no handshake: ${handshake.stdout}`);
  await stop(rental);
});

test('a broken package ends the rental with its log shown, and the held money comes back', async () => {
  await waitFor(
    'the device to be listed again',
    async () => (await renter.api.call('market', { query: {} })).listings.some((l) => l.deviceId === deviceId),
    60_000,
  );
  const balanceBefore = (await renter.api.call('getBalance', {})).balanceMicros;
  const rental = await renter.api.call('rent', { body: { deviceId, hours: 2, package: { name: 'broken', settings: {} } } });
  assert.ok((await renter.api.call('getBalance', {})).balanceMicros < balanceBefore, 'two hours are held');
  const ended = await waitFor(
    'the broken rental to end',
    async () => {
      const r = await getRental(rental.id);
      return r.state === 'ending' || r.state === 'ended' ? r : undefined;
    },
    300_000,
    500,
  );
  assert.equal(ended.endReason, 'app_failed');
  assert.match(ended.detail ?? '', /The package broken failed/);
  assert.match(ended.detail ?? '', /the setup of broken ran out of luck/);
  assert.equal(ended.app?.state, 'failed');
  assert.match(ended.app?.log ?? '', /the setup of broken ran out of luck/);
  assert.match(ended.app?.log ?? '', /p2pvps: the install failed \(exit 3\)/);
  assert.equal(ended.costMicros, 0);
  assert.equal((await renter.api.call('getBalance', {})).balanceMicros, balanceBefore, 'the hold is returned whole');
});
