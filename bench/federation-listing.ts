/**
 * Measures how long a new listing takes to appear on a peer's market (docs/federation.md,
 * "Signed listings"): servers A and B linked both ways on their default push check and
 * pull intervals, a real agent on B; each round the owner takes the device off the market,
 * waits until A no longer shows it, puts it back on, and the clock runs until A's market
 * shows it again. Prints each time and the median.
 *
 *   node --import tsx bench/federation-listing.ts [ROUNDS=5]
 *
 * Run it inside the tests' network namespace, as scripts/test runs the tests:
 *   source scripts/setup.sh && P2PVPS_DOCKER_SOCKET=$P2PVPS_TEST_DOCKER_SOCKET P2PVPS_CONTAINER_NETWORK=bridge \
 *     nsenter --net=/var/run/netns/p2pvps-test node --import tsx bench/federation-listing.ts
 */
import { operatorClient } from '@p2pvps/server/services/operator-client';
import { createAgent, createServer, createUser, portBlock, removeDeviceContainers, waitFor, type TestServer } from '../e2e/harness.ts';

const rounds = Number(process.argv[2] ?? 5);
const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const base = portBlock(200);
const servers: TestServer[] = [];
let deviceId: string | undefined;
try {
  const [a, b] = [
    await createServer({ portBase: base, env: { P2PVPS_SERVER_NAME: 'a' } }),
    await createServer({ portBase: base + 100, env: { P2PVPS_SERVER_NAME: 'b' } }),
  ];
  servers.push(a, b);
  const url = (s: TestServer) => `http://127.0.0.1:${s.httpPort}`;
  const [opA, opB] = await Promise.all([operatorClient(url(a), a.dataDir), operatorClient(url(b), b.dataDir)]);
  const fpA = (await opA.call('adminFederation')).identity.fingerprint;
  const fpB = (await opB.call('adminFederation')).identity.fingerprint;
  await opA.call('adminLinkPeer', { body: { url: url(b), fingerprint: fpB } });
  await opB.call('adminLinkPeer', { body: { url: url(a), fingerprint: fpA } });

  const owner = await createUser(b, 'owner', 0);
  const grant = await owner.api.call('addDevice', { body: { name: 'bench-pi' } });
  const id = grant.device.id;
  deviceId = id;
  await createAgent(b, grant.enrolmentToken);
  await waitFor('the device online on B', async () => (await owner.api.call('getDevice', { params: { deviceId: id } })).online, 60_000);
  const onA = async () => (await a.api.call('market', { query: {} })).listings.some((l) => l.deviceId === id);
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    await owner.api.call('updateDevice', { params: { deviceId: id }, body: { pricePerHourMicros: 12_000, onMarket: false } });
    await waitFor('the listing gone from A', async () => !(await onA()), 60_000, 20);
    const listedAt = performance.now();
    await owner.api.call('updateDevice', { params: { deviceId: id }, body: { pricePerHourMicros: 12_000, onMarket: true } });
    await waitFor('the listing on A', onA, 60_000, 20);
    times.push(performance.now() - listedAt);
    console.log(`round ${i + 1}: listed on B, on A's market after ${times.at(-1)!.toFixed(0)} ms`);
  }
  console.log(
    `new listing on a peer's market, median of ${rounds}: ${median(times).toFixed(0)} ms (best ${Math.min(...times).toFixed(0)}, worst ${Math.max(...times).toFixed(0)})`,
  );
} finally {
  await removeDeviceContainers(deviceId);
  for (const s of servers) await s.stop();
}
