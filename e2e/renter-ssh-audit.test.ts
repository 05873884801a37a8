import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptedSshAuditWarnings, sshAudit } from '@p2pvps/server/testing/ssh-audit';
import {
  createAgent,
  createServer,
  createSshKey,
  createUser,
  openSsh,
  removeDeviceContainers,
  waitFor,
  type TestAgent,
  type TestServer,
} from './harness.ts';

/**
 * The renter's sshd (in their container, reached through the server's public port and
 * the device's tunnel) is the other SSH server people meet: a third-party auditor must
 * find nothing to fail there either, and stock OpenSSH still logs in.
 */
let server: TestServer;
let agent: TestAgent | undefined;
let deviceId: string | undefined;

before(async () => {
  server = await createServer();
});

after(async () => {
  await agent?.stop();
  await removeDeviceContainers(deviceId);
  await server?.stop();
});

test("a rented container's sshd passes ssh-audit, on the renter's port and on the container's own", async () => {
  const owner = await createUser(server, 'owner');
  const grant = await owner.api.call('addDevice', { body: { name: 'audited-pi' } });
  deviceId = grant.device.id;
  agent = await createAgent(server, grant.enrolmentToken);
  await waitFor(
    'the device to come online',
    async () => (await owner.api.call('getDevice', { params: { deviceId: grant.device.id } })).online,
  );
  await owner.api.call('updateDevice', { params: { deviceId: grant.device.id }, body: { pricePerHourMicros: 50_000, onMarket: true } });

  const key = createSshKey();
  const renter = await createUser(server, 'renter');
  const rental = await renter.api.call('rent', { body: { deviceId: grant.device.id, sshPublicKey: key.publicKey } });
  const conn = { port: rental.connection.port, user: rental.connection.username, identity: key.privatePath };
  const login = await waitFor('stock OpenSSH to log in', async () => {
    const r = await openSsh(conn, 'id -un');
    return r.code === 0 && r;
  });
  assert.equal(login.stdout, `${rental.connection.username}\n`);

  // The renter's port (server → tunnel → container) and the container's loopback port
  // are the same sshd; both are audited so a difference on the way would show.
  for (const port of [rental.connection.port, agent.containerSshPort]) {
    const audit = await sshAudit(port);
    assert.deepEqual(audit.failures, [], `port ${port}:\n${audit.output}`);
    assert.ok(audit.code === 0 || audit.code === 2, `ssh-audit exited ${audit.code} on port ${port}\n${audit.output}`);
    assert.deepEqual(
      audit.warnings.filter((w) => !acceptedSshAuditWarnings.includes(w)),
      [],
      `port ${port}:\n${audit.output}`,
    );
    assert.match(audit.output, /\(key\) ssh-ed25519 /);
    assert.doesNotMatch(audit.output, /ecdsa|nistp/);
  }

  await renter.api.call('stopRental', { params: { rentalId: rental.id } });
});
