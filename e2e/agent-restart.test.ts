import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  containerNetwork,
  rentalContainers,
  createAgent,
  createServer,
  createSshKey,
  createUser,
  docker,
  openSsh,
  removeDeviceContainers,
  renterImage,
  waitFor,
  type TestAgent,
  type TestServer,
} from './harness.ts';

/**
 * The agent keeps what it must across its own restarts: an active rental survives with
 * its files, a rental that ended while the agent was down is wiped when it comes back,
 * and containers it does not account for are removed.
 */
let server: TestServer;
let agent: TestAgent;
let deviceId: string;
let owner: Awaited<ReturnType<typeof createUser>>;

before(async () => {
  server = await createServer();
  owner = await createUser(server, 'owner');
  const grant = await owner.api.call('addDevice', { body: { name: 'restartable' } });
  deviceId = grant.device.id;
  agent = await createAgent(server, grant.enrolmentToken);
  await waitFor('online', async () => (await owner.api.call('getDevice', { params: { deviceId } })).online);
  await owner.api.call('updateDevice', { params: { deviceId }, body: { pricePerHourMicros: 1000, onMarket: true } });
});

after(async () => {
  await agent?.stop();
  await removeDeviceContainers(deviceId);
  await server?.stop();
});

const listed = async () => (await server.api.call('market', { query: {} })).listings.some((l) => l.deviceId === deviceId);

test('an agent restart keeps the active rental, its container and its files', async () => {
  const key = createSshKey();
  const renter = await createUser(server, 'renter');
  const rental = await renter.api.call('rent', { body: { deviceId, sshPublicKey: key.publicKey } });
  const conn = { port: rental.connection.port, user: rental.connection.username, identity: key.privatePath };
  await waitFor('first login', async () => (await openSsh(conn, 'echo kept > ~/file')).code === 0);
  const [before] = await rentalContainers(rental.id, docker, false);

  await agent.restart();
  const r = await waitFor('login after the agent restart', async () => {
    const res = await openSsh(conn, 'cat ~/file');
    return res.code === 0 && res;
  });
  assert.equal(r.stdout, 'kept\n');
  const [afterRestart] = await rentalContainers(rental.id, docker, false);
  assert.equal(afterRestart?.Id, before?.Id, 'the same container, not a new one');
  assert.equal((await renter.api.call('getRental', { params: { rentalId: rental.id } })).state, 'active');

  await t_stopWhileAgentDown(renter, rental.id);
});

/** The rental ends while the agent is down; the agent wipes when it comes back. */
async function t_stopWhileAgentDown(renter: Awaited<ReturnType<typeof createUser>>, rentalId: string): Promise<void> {
  await agent.stop();
  await renter.api.call('stopRental', { params: { rentalId } });
  assert.equal((await renter.api.call('getRental', { params: { rentalId } })).state, 'ending', 'held until the device confirms the wipe');
  assert.equal(await listed(), false);
  await agent.restart();
  await waitFor('the device to be listed after the wipe', listed);
  assert.equal((await renter.api.call('getRental', { params: { rentalId } })).state, 'ended');
  const left = await rentalContainers(rentalId);
  assert.equal(left.length, 0);
}

test('a stray container labelled for this device is removed when the agent starts', async () => {
  await agent.stop();
  const stray = await docker.createContainer({
    Image: renterImage,
    Entrypoint: ['sleep', '600'],
    Labels: { 'org.p2pvps.device': deviceId, 'org.p2pvps.rental': 'strayrental1' },
    HostConfig: { NetworkMode: 'none' },
  });
  await stray.start();
  await agent.restart();
  await waitFor(
    'the stray container to be removed',
    async () => (await docker.listContainers({ all: true, filters: { label: ['org.p2pvps.rental=strayrental1'] } })).length === 0,
  );
});

test('the renter container runs unprivileged with limits and a dropped capability set', async () => {
  const key = createSshKey();
  const renter = await createUser(server, 'renter');
  await waitFor('listed', listed);
  const rental = await renter.api.call('rent', { body: { deviceId, sshPublicKey: key.publicKey } });
  const conn = { port: rental.connection.port, user: rental.connection.username, identity: key.privatePath };
  const r = await waitFor('login', async () => {
    const res = await openSsh(
      conn,
      'id -u; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status; df -k --output=size /home | tail -1; touch /etc/x 2>/dev/null || echo ro-etc; echo "nofile $(ulimit -Sn) $(ulimit -Hn)"',
    );
    return res.code === 0 && res;
  });
  const [info] = await rentalContainers(rental.id, docker, false);
  const inspect = await docker.getContainer(info!.Id).inspect();
  const hc = inspect.HostConfig;
  assert.equal(hc.Privileged, false);
  assert.deepEqual(hc.CapDrop, ['ALL']);
  assert.ok(!hc.CapAdd?.includes('SYS_ADMIN') && !hc.CapAdd?.includes('NET_ADMIN'));
  // On the tests' engine (user namespaces, bridge) the renter may become root with sudo, a
  // setuid program, which no-new-privileges would stop; elsewhere it stays.
  const renterMayBeRoot = containerNetwork === 'bridge';
  assert.equal(hc.SecurityOpt?.includes('no-new-privileges'), !renterMayBeRoot);
  assert.equal(hc.NanoCpus, 1e9);
  assert.equal(hc.Memory, 512 * 1024 * 1024);
  assert.equal(hc.PidsLimit, 256);
  assert.deepEqual(hc.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 16384 }]);
  assert.match(r.stdout, /^nofile 1024 16384$/m, 'a renter process cannot hold a million open files');
  // Disk: the renter's files go to the renter storage (a filesystem of the configured size,
  // 64 MiB here) bind-mounted as /home; what else they may write is tmpfs, counted in memory.
  // The rest are LXCFS's /proc and /sys files, read-only, so free and /proc show the rental's limits.
  assert.deepEqual(
    hc.Mounts?.filter((m) => !m.Source.startsWith('/var/lib/lxcfs/')).map((m) => [m.Type, m.Target]),
    [['bind', '/home']],
  );
  assert.ok(hc.Mounts?.some((m) => m.Target === '/proc/meminfo'));
  assert.ok(hc.Mounts?.filter((m) => m.Target !== '/home').every((m) => m.Type === 'bind' && m.ReadOnly));
  assert.deepEqual(Object.keys(hc.Tmpfs ?? {}).sort(), ['/run/lock', '/tmp', '/var/tmp']);
  assert.match(hc.Tmpfs!['/tmp']!, /size=128m/);
  assert.deepEqual(hc.LogConfig, { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2' } });
  const homeKiB = Number(r.stdout.trim().split('\n')[3]);
  assert.equal(homeKiB, 64 * 1024, '/home is the 64 MiB renter storage, all of it by default');
  assert.match(r.stdout, /ro-etc/, 'the renter cannot write outside /home and the tmpfs mounts');
  const lines = r.stdout.trim().split('\n');
  assert.notEqual(lines[0], '0', "the renter's own account is not root");
  assert.match(r.stdout, /CapEff:\s+0000000000000000/, 'a renter shell holds no capabilities');
  assert.match(r.stdout, renterMayBeRoot ? /NoNewPrivs:\s+0/ : /NoNewPrivs:\s+1/);
  await renter.api.call('stopRental', { params: { rentalId: rental.id } });
  await waitFor('listed again', listed);
});
