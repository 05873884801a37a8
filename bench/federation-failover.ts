/**
 * Measures federation failover (docs/federation.md, "Backup peers and failover"): the
 * time from `kill -9` of a device's home server B to the renter's first successful
 * command over stock OpenSSH through its backup C, on the same running container. B runs
 * as its own process, C in this one, a real agent and Docker between them, all on
 * loopback. Each round: the agent is home, B is killed, the clock runs until `ssh` through
 * C works; B starts again and the agent goes home. Prints each time and the median.
 *
 *   node --import tsx bench/federation-failover.ts [ROUNDS=5] [--unreachable-s 30] [--return-s 5]
 *
 * Run it inside the tests' network namespace, as scripts/test runs the tests:
 *   source scripts/setup.sh && P2PVPS_DOCKER_SOCKET=$P2PVPS_TEST_DOCKER_SOCKET P2PVPS_CONTAINER_NETWORK=bridge \
 *     nsenter --net=/var/run/netns/p2pvps-test node --import tsx bench/federation-failover.ts
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createTestDatabase } from '@p2pvps/server/testing/test-database';
import { operatorClient } from '@p2pvps/server/services/operator-client';
import { agentBackups, backupServer, childServer, linkWithBackup } from '../e2e/backup-peers.ts';
import {
  createAgent,
  createSshKey,
  createUser,
  openSsh,
  portBlock,
  removeDeviceContainers,
  tempDir,
  waitFor,
  type TestServer,
} from '../e2e/harness.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'unreachable-s': { type: 'string', default: '30' }, 'return-s': { type: 'string', default: '5' } },
});
const rounds = Number(positionals[0] ?? 5);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const base = portBlock(200);
const work = tempDir('failover-bench');
const bDatabase = await createTestDatabase(`sqlite:${join(work, 'b.sqlite')}`);
const b = childServer({ name: 'b', dataDir: join(work, 'b'), databaseUrl: bDatabase.url, portBase: base, webDomain: 'b.test' });
await b.start();
const c = await backupServer(base + 100, 'c.test');
let deviceId: string | undefined;
try {
  await linkWithBackup(b, c);
  const home = {
    api: b.api,
    httpPort: b.httpPort,
    dataDir: b.dataDir,
    operator: operatorClient(b.url, b.dataDir),
  } as unknown as TestServer;
  const owner = await createUser(home, 'owner');
  const renter = await createUser(home, 'renter');
  const grant = await owner.api.call('addDevice', { body: { name: 'bench-pi' } });
  const id = (deviceId = grant.device.id);
  const agent = await createAgent(home, grant.enrolmentToken, {
    serverUrl: b.url,
    deviceConfig: { homeUnreachableS: Number(values['unreachable-s']), homeReturnS: Number(values['return-s']) },
  });
  await waitFor('the device online on B', async () => (await owner.api.call('getDevice', { params: { deviceId: id } })).online, 60_000);
  await owner.api.call('updateDevice', { params: { deviceId: id }, body: { pricePerHourMicros: 60_000, onMarket: true } });
  const key = createSshKey();
  const rental = await renter.api.call('rent', { body: { deviceId: id, sshPublicKey: key.publicKey } });
  const atB = { port: rental.connection.port, user: rental.connection.username, identity: key.privatePath };
  const works = (to: typeof atB) => async () => (await openSsh(to, 'true', 5_000)).code === 0;
  await waitFor('the first login through B', works(atB), 60_000);
  const backup = await waitFor('the agent to learn its backup', async () => agentBackups(agent.dataDir)[0], 60_000, 100);
  const atC = { ...atB, port: backup.sshPort };

  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    await waitFor('the agent home at B', async () => !c.running.gateway.isOnline(id) && (await works(atB)()), 180_000, 200);
    const killedAt = performance.now();
    b.kill();
    await waitFor('ssh through C', works(atC), 180_000, 100);
    const ms = performance.now() - killedAt;
    times.push(ms);
    console.log(`round ${i + 1}: ssh through C ${(ms / 1000).toFixed(2)} s after kill -9 of B`);
    await b.start();
  }
  console.log(
    `failover (--home-unreachable-s ${values['unreachable-s']}): median ${(median(times) / 1000).toFixed(2)} s of ${rounds} kills ` +
      `(best ${(Math.min(...times) / 1000).toFixed(2)} s, worst ${(Math.max(...times) / 1000).toFixed(2)} s)`,
  );
  await agent.stop();
} finally {
  await removeDeviceContainers(deviceId);
  b.kill();
  await c.stop();
  rmSync(work, { recursive: true, force: true });
  await bDatabase.drop();
}
