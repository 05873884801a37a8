/**
 * Measures what a renter waits for: from `rent` returning to the first successful
 * command over stock OpenSSH, through the real server, gateway, agent and Docker.
 * Runs N rentals (default 10) and prints each time, the median and the worst.
 *
 *   node --import tsx bench/rent-to-ssh.ts [N]
 */
import { performance } from 'node:perf_hooks';
import { createAgent, createServer, createSshKey, createUser, openSsh, removeDeviceContainers, waitFor } from '../e2e/harness.ts';

const runs = Number(process.argv[2] ?? 10);
const server = await createServer();
const owner = await createUser(server, 'owner');
const grant = await owner.api.call('addDevice', { body: { name: 'bench' } });
const deviceId = grant.device.id;
const agent = await createAgent(server, grant.enrolmentToken);
try {
  await waitFor('online', async () => (await owner.api.call('getDevice', { params: { deviceId } })).online);
  await owner.api.call('updateDevice', { params: { deviceId }, body: { pricePerHourMicros: 1000, onMarket: true } });
  const key = createSshKey();
  const renter = await createUser(server, 'renter');
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    await waitFor('listed', async () => (await server.api.call('market', { query: {} })).listings.some((l) => l.deviceId === deviceId));
    const rental = await renter.api.call('rent', { body: { deviceId, sshPublicKey: key.publicKey } });
    const t0 = performance.now();
    let attempts = 0;
    await waitFor(
      'ssh',
      async () => (
        ++attempts,
        (await openSsh({ port: rental.connection.port, user: rental.connection.username, identity: key.privatePath }, 'true')).code === 0
      ),
      60_000,
      20,
    );
    const ms = performance.now() - t0;
    times.push(ms);
    console.log(`run ${i + 1}: ${ms.toFixed(0)} ms (${attempts} ssh attempts)`);
    await renter.api.call('stopRental', { params: { rentalId: rental.id } });
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  console.log(
    `rent → first successful ssh command over ${runs} runs: median ${median.toFixed(0)} ms, worst ${sorted.at(-1)!.toFixed(0)} ms, best ${sorted[0]!.toFixed(0)} ms`,
  );
} finally {
  await agent.stop();
  await removeDeviceContainers(deviceId);
  await server.stop();
}
