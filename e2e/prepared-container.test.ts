import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { rawBytesContain } from '@p2pvps/agent/storage/test-support';
import {
  createAgent,
  createServer,
  createSshKey,
  createUser,
  docker,
  openSsh,
  removeDeviceContainers,
  waitFor,
  type TestAgent,
  type TestServer,
} from './harness.ts';

/**
 * Instant start: an idle listed device keeps one container prepared, and a renter gets it.
 * What this must not cost: no one can log in to the prepared container before the rent (the
 * tunnel delivers no connection to it, and its sshd, running already, takes no key and no
 * password: its one account is a locked placeholder) and it holds no credentials; it never
 * holds anything of an earlier renter (it is made after the wipe, on the wiped storage); and
 * every rent takes a fresh one.
 */
let server: TestServer;
let agent: TestAgent;
let deviceId: string;

before(async () => {
  server = await createServer();
});

after(async () => {
  await agent?.stop();
  await removeDeviceContainers(deviceId);
  await server?.stop();
});

const listed = async () => (await server.api.call('market', { query: {} })).listings.some((l) => l.deviceId === deviceId);

/** The device's prepared container, once there is one running that no rental has taken. */
async function preparedContainer(notId?: string) {
  return waitFor('a prepared container', async () => {
    const found = await docker.listContainers({ filters: { label: [`org.p2pvps.device=${deviceId}`, 'org.p2pvps.prepared'] } });
    return found.find((c) => c.Names[0]!.startsWith(`/p2pvps-${deviceId}-prepared-`) && c.Id !== notId && c.State === 'running');
  });
}

/**
 * Whether anyone gets in before a rent: stock OpenSSH through the gateway to the device's
 * public port, and straight to the container's sshd on the device as its placeholder
 * account and as root, with a key the test made.
 */
async function nobodyLogsIn(publicPort: number, key: { privatePath: string }) {
  const tries = [
    { port: publicPort, user: 'p2pvps-next' },
    { port: agent.containerSshPort, user: 'p2pvps-next' },
    { port: agent.containerSshPort, user: 'root' },
  ];
  for (const t of tries) {
    const r = await openSsh({ ...t, identity: key.privatePath }, 'true');
    assert.notEqual(r.code, 0, `${t.user} logged in on port ${t.port} before a rent`);
  }
}

/** Runs a shell command inside a container as its root, as the device's owner could. */
function inside(containerId: string, command: string) {
  const socket = process.env.P2PVPS_DOCKER_SOCKET ?? '/var/run/docker.sock';
  const r = spawnSync('docker', ['-H', `unix://${socket}`, 'exec', containerId, 'sh', '-c', command], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout.trim() };
}

async function rent() {
  const key = createSshKey();
  const renter = await createUser(server, 'renter');
  const rental = await renter.api.call('rent', { body: { deviceId, sshPublicKey: key.publicKey } });
  const ssh = { port: rental.connection.port, user: rental.connection.username, identity: key.privatePath };
  await waitFor('ssh into the rental', async () => (await openSsh(ssh, 'true')).code === 0);
  return { renter, rental, ssh };
}

test('a prepared container becomes the renter’s, and the next renter gets a fresh one holding nothing of the last', async () => {
  const owner = await createUser(server, 'owner');
  const grant = await owner.api.call('addDevice', { body: { name: 'pi-prepared' } });
  deviceId = grant.device.id;
  agent = await createAgent(server, grant.enrolmentToken);
  await waitFor('online', async () => (await owner.api.call('getDevice', { params: { deviceId } })).online);
  await owner.api.call('updateDevice', { params: { deviceId }, body: { pricePerHourMicros: 10_000, onMarket: true } });

  const first = await preparedContainer();
  const publicPort = (await owner.api.call('getDevice', { params: { deviceId } })).sshPort!;
  const stranger = createSshKey();
  await nobodyLogsIn(publicPort, stranger);
  assert.match(inside(first.Id, 'getent shadow p2pvps-next | cut -d: -f2').stdout, /^!/, 'the placeholder account is locked');
  const firstEnv = (await docker.getContainer(first.Id).inspect()).Config.Env ?? [];
  assert.deepEqual(
    firstEnv.filter((e) => /^P2PVPS_(USER|PASSWORD|PASSWORD_HASH|AUTHORIZED_KEY)=/.test(e)),
    [],
  );

  const a = await rent();
  const aInfo = await docker.getContainer(first.Id).inspect();
  assert.equal(aInfo.Name, `/p2pvps-${deviceId}-${a.rental.id}`, 'the prepared container is the one the renter logs in to');
  assert.ok(!JSON.stringify(aInfo.Config).includes(a.rental.connection.password), 'no password in its config');
  const marker = `renter-a-${randomBytes(12).toString('hex')}`;
  const wrote = await openSsh(a.ssh, `echo ${marker} > ~/marker && echo ${marker} > /tmp/marker && sync && cat ~/marker`);
  assert.equal(wrote.stdout.trim(), marker, wrote.stderr);

  await a.renter.api.call('stopRental', { params: { rentalId: a.rental.id } });
  await waitFor('listed again', listed);
  const second = await preparedContainer(first.Id);
  await assert.rejects(docker.getContainer(first.Id).inspect(), "the first renter's container is destroyed");
  assert.equal(rawBytesContain(join(agent.dataDir, 'renter-storage.img'), Buffer.from(marker)), false, 'the storage was wiped');
  assert.equal(inside(second.Id, 'ls -A /home').stdout, 'p2pvps-next', "the prepared container's /home holds only its placeholder's home");
  assert.equal(inside(second.Id, 'ls -A /home/p2pvps-next/.ssh; cat /home/p2pvps-next/.ssh/authorized_keys').stdout, 'authorized_keys');
  assert.notEqual(inside(second.Id, `getent passwd ${a.rental.connection.username}`).code, 0, 'no account of the first renter');
  assert.notEqual(inside(second.Id, 'cat /tmp/marker').code, 0);
  await nobodyLogsIn(publicPort, stranger);
  await nobodyLogsIn(publicPort, { privatePath: a.ssh.identity });

  const b = await rent();
  assert.equal((await docker.getContainer(second.Id).inspect()).Name, `/p2pvps-${deviceId}-${b.rental.id}`, 'a rent takes the fresh one');
  const seen = await openSsh(
    b.ssh,
    `ls -A /home; id ${a.rental.connection.username} || echo no-such-user; cat /tmp/marker || echo no-marker`,
  );
  assert.deepEqual(seen.stdout.trim().split('\n'), [b.rental.connection.username, 'no-such-user', 'no-marker'], seen.stderr);
  const asA = await openSsh({ ...b.ssh, user: a.rental.connection.username, identity: a.ssh.identity }, 'true');
  assert.notEqual(asA.code, 0, 'the first renter cannot log in to the second rental');
  await b.renter.api.call('stopRental', { params: { rentalId: b.rental.id } });
  await waitFor('listed again', listed);
});
