import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '@p2pvps/protocol/client';
import {
  rentalContainers,
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
 * The whole handshake as users live it: an owner enrols a device, its agent comes
 * online through the reverse tunnel, a renter rents it and logs in with stock OpenSSH,
 * stops, and the device is wiped and back on the market.
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

async function listed(id: string): Promise<boolean> {
  const { listings } = await server.api.call('market', { query: {} });
  return listings.some((l) => l.deviceId === id);
}

test('enrol, list, rent, ssh in, stop, wipe, rent again', async (t) => {
  const owner = await createUser(server, 'owner');
  const grant = await owner.api.call('addDevice', { body: { name: 'pi-in-the-hallway', description: 'Raspberry Pi 4' } });
  deviceId = grant.device.id;
  assert.equal(grant.device.status, 'awaiting_enrolment');

  agent = await createAgent(server, grant.enrolmentToken);
  const online = await waitFor('the device to come online', async () => {
    const d = await owner.api.call('getDevice', { params: { deviceId: grant.device.id } });
    return d.online && d;
  });
  assert.equal(online.status, 'online');
  assert.ok(online.hardware && online.hardware.cores >= 1, 'the hardware report arrived');
  assert.equal(await listed(grant.device.id), false, 'not listed before it has a price and is on the market');

  await owner.api.call('updateDevice', { params: { deviceId: grant.device.id }, body: { pricePerHourMicros: 50_000, onMarket: true } });
  assert.equal(await listed(grant.device.id), true, 'listed once priced and on the market');

  await t.test('the enrolment token was spent by registration', async () => {
    await assert.rejects(
      server.api.call('agentRegister', {
        body: { enrolmentToken: grant.enrolmentToken, publicKey: createSshKey().publicKey, hardware: online.hardware!, agentVersion: 'x' },
      }),
      (err: ApiError) => err.code === 'enrolment_token_invalid',
    );
  });

  // Two renters race for the device: exactly one wins, whichever the database lets in first
  // (SQLite takes them in order of arrival; on PostgreSQL they run side by side).
  const key = createSshKey();
  const racers = [await createUser(server, 'renter'), await createUser(server, 'rival')];
  const results = await Promise.allSettled(
    racers.map((r) => r.api.call('rent', { body: { deviceId: grant.device.id, sshPublicKey: key.publicKey } })),
  );
  const won = results.findIndex((r) => r.status === 'fulfilled');
  assert.notEqual(won, -1, 'one renter got it');
  const lost = results[1 - won]!;
  assert.equal(lost.status, 'rejected', 'the other did not');
  assert.equal(((lost as PromiseRejectedResult).reason as ApiError).code, 'device_not_listed');
  const renter = racers[won]!;
  const rival = racers[1 - won]!;
  const rental = (results[won] as PromiseFulfilledResult<Awaited<ReturnType<typeof renter.api.call<'rent'>>>>).value;
  assert.equal(await listed(grant.device.id), false, 'off the market while rented');
  assert.match(rental.connection.sshCommand, /^ssh -p \d+ r[a-z0-9]+@127\.0\.0\.1$/);

  const conn = { port: rental.connection.port, user: rental.connection.username, identity: key.privatePath };
  const first = await waitFor('the first ssh login', async () => {
    const r = await openSsh(conn, 'id -un && echo "renter data" > ~/marker && cat ~/marker');
    return r.code === 0 && r;
  });
  assert.equal(first.stdout, `${rental.connection.username}\nrenter data\n`);
  const active = await renter.api.call('getRental', { params: { rentalId: rental.id } });
  assert.equal(active.state, 'active');

  await t.test('a stranger cannot see the rental', async () => {
    await assert.rejects(rival.api.call('getRental', { params: { rentalId: rental.id } }), (err: ApiError) => err.status === 404);
  });

  await renter.api.call('stopRental', { params: { rentalId: rental.id } });
  await waitFor('the device to be listed again', () => listed(grant.device.id));
  const ended = await renter.api.call('getRental', { params: { rentalId: rental.id } });
  assert.equal(ended.state, 'ended');
  assert.equal(ended.endReason, 'renter_stopped');
  const left = await rentalContainers(rental.id);
  assert.equal(left.length, 0, "the rental's container is destroyed");
  const volumes = await docker.listVolumes({ filters: { label: [`org.p2pvps.rental=${rental.id}`] } });
  assert.equal(volumes.Volumes?.length ?? 0, 0, "the rental's volume is destroyed");
  const gone = await openSsh(conn, 'true', 10_000);
  assert.notEqual(gone.code, 0, 'the old login no longer works');

  const second = await rival.api.call('rent', { body: { deviceId: grant.device.id, sshPublicKey: key.publicKey } });
  const conn2 = { port: second.connection.port, user: second.connection.username, identity: key.privatePath };
  const check = await waitFor('ssh into the second rental', async () => {
    const r = await openSsh(conn2, 'ls -A ~; test -e /home/*/marker && echo FOUND || echo clean');
    return r.code === 0 && r;
  });
  assert.equal(check.stdout.trim().split('\n').pop(), 'clean', "the previous renter's file is gone");
  assert.notEqual(second.connection.username, rental.connection.username);
  await rival.api.call('stopRental', { params: { rentalId: second.id } });
  await waitFor('the device to be listed after the second rental', () => listed(grant.device.id));
});

test('the server restarts mid-rental; the agent reconnects by itself and the renter logs in again', async () => {
  assert.ok(agent && deviceId, 'runs after the lifecycle test');
  const key = createSshKey();
  const renter = await createUser(server, 'renter');
  const rental = await renter.api.call('rent', { body: { deviceId, sshPublicKey: key.publicKey } });
  const conn = { port: rental.connection.port, user: rental.connection.username, identity: key.privatePath };
  await waitFor('ssh before the restart', async () => (await openSsh(conn, 'echo before > ~/kept')).code === 0);

  await server.restart();
  const after = await waitFor(
    'ssh after the restart',
    async () => {
      const r = await openSsh(conn, 'cat ~/kept');
      return r.code === 0 && r;
    },
    60_000,
  );
  assert.equal(after.stdout, 'before\n', 'the rental and its files survived the server restart');
  const again = await renter.api.call('getRental', { params: { rentalId: rental.id } });
  assert.equal(again.state, 'active');
  await renter.api.call('stopRental', { params: { rentalId: rental.id } });
  await waitFor('the device to be listed again', () => listed(deviceId!));
});
