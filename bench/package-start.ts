/**
 * Time from rent to a healthy deployment package, for each package in the catalogue
 * (packages/apps/), through the real server, agent and Docker: the renter's `rent` call
 * returns, the agent installs the package's Debian packages from the image's offline
 * repository inside a fresh container, runs its setup and start, and its health check
 * passes; the clock stops when the server first reports the package healthy (polled every
 * 250 ms). N rentals of each package (default 3), one after another on one device, each in a
 * container made anew; prints each time and the median. docs/packages.md has the figures.
 *
 * Packages install as root in the container, which needs the tests' engine with user
 * namespaces and bridge networking, so run it in its namespace:
 *
 *   source scripts/setup.sh
 *   P2PVPS_DOCKER_SOCKET=$P2PVPS_TEST_DOCKER_SOCKET P2PVPS_CONTAINER_NETWORK=bridge \
 *     nsenter --net=/var/run/netns/$P2PVPS_TEST_NETNS node --import tsx bench/package-start.ts [N]
 */
import { performance } from 'node:perf_hooks';
import { containerNetwork, createAgent, createServer, createSshKey, createUser, removeDeviceContainers, waitFor } from '../e2e/harness.ts';

const runs = Number(process.argv[2] ?? 3);
if (containerNetwork !== 'bridge')
  throw new Error("run this in the tests' engine (see the comment at the top): packages need root in the container");

/** Settings a package needs to work offline here (static-site's own ACME server in the rental). */
const offlineSettings: Record<string, Record<string, string>> = { 'static-site': { ACME_DIRECTORY: 'pebble' } };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const server = await createServer({ env: { P2PVPS_WEB_DOMAIN: 'vps.test' } });
const owner = await createUser(server, 'owner');
const renter = await createUser(server, 'renter');
const key = createSshKey();
const grant = await owner.api.call('addDevice', { body: { name: 'bench-pi' } });
const deviceId = grant.device.id;
const agent = await createAgent(server, grant.enrolmentToken, { storage: { kind: 'image', sizeMiB: 256 } });
const times: Record<string, number[]> = {};
try {
  await waitFor('the device online', async () => (await owner.api.call('getDevice', { params: { deviceId } })).online, 60_000);
  await owner.api.call('updateDevice', { params: { deviceId }, body: { pricePerHourMicros: 10_000, onMarket: true } });
  const { packages } = await renter.api.call('appPackages', { query: {} });
  for (let round = 0; round < runs; round++) {
    for (const p of packages) {
      await waitFor(
        'the device listed',
        async () => (await renter.api.call('market', { query: {} })).listings.some((l) => l.deviceId === deviceId),
        120_000,
      );
      const began = performance.now();
      const rental = await renter.api.call('rent', {
        body: { deviceId, sshPublicKey: key.publicKey, package: { name: p.name, settings: offlineSettings[p.name] ?? {} } },
      });
      const done = await waitFor(
        `${p.name} healthy`,
        async () => {
          const r = await renter.api.call('getRental', { params: { rentalId: rental.id } });
          return r.app?.state === 'healthy' || r.state === 'ended' || r.state === 'ending' ? r : undefined;
        },
        600_000,
        250,
      );
      const ms = performance.now() - began;
      if (done.app?.state !== 'healthy') throw new Error(`${p.name} did not become healthy: ${done.endReason} ${done.detail}`);
      (times[p.name] ??= []).push(ms);
      console.log(`${p.name} round ${round + 1}: ${(ms / 1000).toFixed(1)} s`);
      await renter.api.call('stopRental', { params: { rentalId: rental.id } });
      await waitFor(
        'the rental to end',
        async () => (await renter.api.call('getRental', { params: { rentalId: rental.id } })).state === 'ended',
        120_000,
      );
    }
  }
  console.log(`\n| package | median (s) | each run (s) |\n| --- | --- | --- |`);
  for (const [name, xs] of Object.entries(times))
    console.log(`| \`${name}\` | ${(median(xs) / 1000).toFixed(1)} | ${xs.map((x) => (x / 1000).toFixed(1)).join(', ')} |`);
} finally {
  await agent.stop();
  await removeDeviceContainers(deviceId);
  await server.stop();
}
