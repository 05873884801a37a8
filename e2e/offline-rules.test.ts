import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { timing } from '@p2pvps/protocol/timing';
import { storageMountDir } from '@p2pvps/agent/storage/renter-storage';
import { PrivateDockerEngine } from './docker-engine.ts';
import {
  rentalContainers,
  createRentedDevice,
  createServer,
  createUser,
  docker,
  openSsh,
  removeDeviceContainers,
  waitFor,
  type RentedDevice,
  type TestServer,
} from './harness.ts';

/**
 * The device side of the offline rules (protocol/timing.ts): losing the server never wipes
 * an active rental at once, past timing.dataKeepMs the agent wipes by itself, and neither
 * a restarted Docker engine nor a rebooted device loses the renter's files.
 */
let server: TestServer;
let engine: PrivateDockerEngine | undefined;
const devices: RentedDevice[] = [];

before(async () => {
  server = await createServer();
});

after(async () => {
  for (const d of devices) await d.agent.stop();
  // The private engine's containers go first, so the storage is not busy when it is unmounted.
  await engine?.destroy();
  for (const d of devices) await removeDeviceContainers(d.deviceId);
  await server?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const agentState = (d: RentedDevice) =>
  JSON.parse(readFileSync(join(d.agent.dataDir, 'state.json'), 'utf8')) as {
    rental: { rentalId: string } | null;
    lastServerContactAt: string | null;
    lostRental: { rentalId: string; detail: string } | null;
  };
const listed = async (deviceId: string) => (await server.api.call('market', { query: {} })).listings.some((l) => l.deviceId === deviceId);

test('the server away: the rental and its files are kept, the agent reconnects; past dataKeepMs it wipes on its own', async () => {
  // The agent's clock, moved forward by the test; the server's runs as it does.
  let skew = 0;
  const owner = await createUser(server, 'owner');
  const renter = await createUser(server, 'renter');
  const d = await createRentedDevice(server, owner, renter, 'away-pi', { effects: { now: () => Date.now() + skew } });
  devices.push(d);
  const rentalId = d.rental.id;
  const containers = () => rentalContainers(rentalId);
  await waitFor('a file written', async () => (await openSsh(d.ssh, 'echo kept > ~/file')).code === 0);
  const [container] = await containers();
  const contact = agentState(d).lastServerContactAt;
  assert.ok(contact, 'the agent keeps when it last reached the server');

  await server.down();
  await waitFor('the tunnel to go down', async () => !d.agent.agent.tunnelUp, 30_000);
  // Past the server's grace for lost devices, but within the data-keeping limit.
  skew += timing.deviceLostGraceMs + 60_000;
  await sleep(3500); // the failed sync and its first retries (1 s, 2 s)
  assert.equal((await containers())[0]?.State, 'running', 'the container keeps running');
  assert.equal(agentState(d).rental?.rentalId, rentalId, 'the rental is kept');
  assert.equal(agentState(d).lastServerContactAt, contact, 'no contact while the server is away');

  await server.up();
  const back = await waitFor(
    'login after the server is back',
    async () => {
      const r = await openSsh(d.ssh, 'cat ~/file');
      return r.code === 0 && r;
    },
    60_000,
  );
  assert.equal(back.stdout, 'kept\n');
  assert.equal((await containers())[0]?.Id, container?.Id, 'the same container');
  assert.equal((await renter.api.call('getRental', { params: { rentalId } })).state, 'active');

  await server.down();
  await waitFor('the tunnel to go down again', async () => !d.agent.agent.tunnelUp, 30_000);
  skew += timing.dataKeepMs;
  await waitFor('the agent to give the rental up', async () => (await containers()).length === 0 && agentState(d).rental === null, 30_000);
  assert.equal(agentState(d).lostRental?.rentalId, rentalId);
  assert.deepEqual(readdirSync(join(storageMountDir(d.agent.dataDir), 'home')), [], 'the storage is wiped');

  await server.up();
  await waitFor('the device to be listed again', () => listed(d.deviceId), 60_000);
  const ended = await renter.api.call('getRental', { params: { rentalId } });
  assert.equal(ended.state, 'ended');
  // The server had not ended it (it was down itself): the agent's report that it gave the rental up does, as lost.
  assert.equal(ended.endReason, 'device_lost');
  await waitFor('the agent to forget the given-up rental', async () => agentState(d).lostRental === null);
});

test('a restarted Docker engine and a rebooted device resume the rental without wiping', async () => {
  engine = new PrivateDockerEngine();
  await engine.start();
  await engine.loadRenterImage();
  const owner = await createUser(server, 'owner');
  const renter = await createUser(server, 'renter');
  const d = await createRentedDevice(server, owner, renter, 'rebooting-pi', { dockerSocket: engine.socket, network: engine.network });
  devices.push(d);
  const rentalId = d.rental.id;
  const containers = () => rentalContainers(rentalId, engine!.docker);
  const login = (what: string) =>
    waitFor(
      what,
      async () => {
        const r = await openSsh(d.ssh, 'cat ~/file');
        return r.code === 0 && r;
      },
      90_000,
      500,
    );
  await waitFor('a file written', async () => (await openSsh(d.ssh, 'echo kept > ~/file')).code === 0);
  const [container] = await containers();

  // The engine restarts under a running agent: the container stops with it and comes back.
  await engine.restart();
  assert.equal((await login('login after the engine restart')).stdout, 'kept\n');
  assert.equal((await containers())[0]?.Id, container?.Id, 'the same container');

  // A reboot: the agent and the engine stop, and the renter storage is no longer mounted.
  await d.agent.stop();
  await engine.stop();
  const umount = spawnSync('umount', [storageMountDir(d.agent.dataDir)], { encoding: 'utf8' });
  assert.equal(umount.status, 0, umount.stderr);
  await engine.start();
  await sleep(1000);
  assert.notEqual((await containers())[0]?.State, 'running', 'the container cannot start before the agent mounts its storage');
  await d.agent.restart();
  assert.equal((await login('login after the reboot')).stdout, 'kept\n', 'resumed, not wiped');
  assert.equal((await containers())[0]?.Id, container?.Id, 'the same container');
  assert.equal((await renter.api.call('getRental', { params: { rentalId } })).state, 'active');

  await renter.api.call('stopRental', { params: { rentalId } });
  await waitFor('the device to be listed again', () => listed(d.deviceId), 60_000);
  assert.equal((await containers()).length, 0);
});
