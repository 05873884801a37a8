import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { realpathSync, writeFileSync } from 'node:fs';
import { storageMountDir } from '@p2pvps/agent/storage/renter-storage';
import { createLoopDevice, rawBytesContain, storageTestsPossible, type LoopDevice } from '@p2pvps/agent/storage/test-support';
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
 * The renter's storage on a dedicated drive: a loop device this test creates stands in for
 * the owner's USB drive. What a renter wrote is gone from the raw device once the rental
 * ends; a device whose wipe fails stays off the market and tells its owner why.
 */
const skip = storageTestsPossible();
let server: TestServer;
let owner: Awaited<ReturnType<typeof createUser>>;
const loops: LoopDevice[] = [];
const devices: string[] = [];

before(async () => {
  if (skip) return;
  server = await createServer();
  owner = await createUser(server, 'owner');
});

after(async () => {
  for (const id of devices) await removeDeviceContainers(id);
  for (const l of loops) l.detach();
  await server?.stop();
});

function usbDrive(sizeMiB: number): LoopDevice {
  const l = createLoopDevice(sizeMiB);
  loops.push(l);
  return l;
}

const listed = async (deviceId: string) => (await server.api.call('market', { query: {} })).listings.some((l) => l.deviceId === deviceId);

async function enrol(name: string, storage: object): Promise<{ deviceId: string; agent: TestAgent }> {
  const grant = await owner.api.call('addDevice', { body: { name } });
  const deviceId = grant.device.id;
  devices.push(deviceId);
  const agent = await createAgent(server, grant.enrolmentToken, { storage });
  await waitFor(`${name} online`, async () => (await owner.api.call('getDevice', { params: { deviceId } })).online);
  await owner.api.call('updateDevice', { params: { deviceId }, body: { pricePerHourMicros: 10_000, onMarket: true } });
  return { deviceId, agent };
}

async function rent(deviceId: string) {
  const key = createSshKey();
  const renter = await createUser(server, 'renter');
  const rental = await renter.api.call('rent', { body: { deviceId, sshPublicKey: key.publicKey } });
  const ssh = { port: rental.connection.port, user: rental.connection.username, identity: key.privatePath };
  await waitFor('ssh into the rental', async () => (await openSsh(ssh, 'true')).code === 0);
  return { renter, rental, ssh };
}

test('a marker a renter wrote cannot be found anywhere on the USB drive once the rental ends', { skip }, async () => {
  const usb = usbDrive(96);
  const { deviceId } = await enrol('pi-with-usb', { kind: 'block', device: usb.path, allowFormat: true });
  assert.equal(await listed(deviceId), true);
  const { renter, rental, ssh } = await rent(deviceId);

  const marker = `renter-secret-${randomBytes(16).toString('hex')}`;
  const r = await openSsh(ssh, `printf '%s\\n' ${marker} > ~/marker && sync && cat ~/marker && df -B1 --output=size /home | tail -1`);
  assert.equal(r.code, 0, r.stderr);
  const [echoed, size] = r.stdout.trim().split('\n');
  assert.equal(echoed, marker);
  const sizeMiB = Number(size) / 1024 / 1024;
  assert.ok(sizeMiB > 80 && sizeMiB <= 96, `/home is the USB drive's filesystem (${sizeMiB} MiB), so its size is the renter's quota`);
  assert.ok(rawBytesContain(usb.path, Buffer.from(marker)), 'while rented, the scan finds the marker on the raw device');

  await renter.api.call('stopRental', { params: { rentalId: rental.id } });
  await waitFor('the device to be listed again', () => listed(deviceId));
  assert.equal((await renter.api.call('getRental', { params: { rentalId: rental.id } })).state, 'ended');
  assert.equal(rawBytesContain(usb.path, Buffer.from(marker)), false, 'listed again only after the marker is gone from the raw device');
  assert.equal(rawBytesContain(usb.backingFile, Buffer.from(marker)), false);
});

test('a failed wipe keeps the device off the market and tells the owner; it is listed again once a wipe succeeds', { skip }, async () => {
  const usb = usbDrive(64);
  const { deviceId, agent } = await enrol('pi-with-stuck-usb', { kind: 'block', device: usb.path, allowFormat: true });
  const { renter, rental, ssh } = await rent(deviceId);
  assert.equal((await openSsh(ssh, 'echo data > ~/file')).code, 0);

  // Something on the device holds the mounted drive busy, so it cannot be unmounted and wiped.
  const holder = spawn('sleep', ['300'], { cwd: storageMountDir(realpathSync(agent.dataDir)), stdio: 'ignore' });
  try {
    await renter.api.call('stopRental', { params: { rentalId: rental.id } });
    const faulty = await waitFor('the owner to be told', async () => {
      const d = await owner.api.call('getDevice', { params: { deviceId } });
      return d.storageFault ? d : undefined;
    });
    assert.match(faulty.storageFault!, /could not be wiped after the last rental: umount .*busy.*The device stays off the market/i);
    assert.equal(faulty.listed, false);
    assert.equal(await listed(deviceId), false, 'not on the market');
    assert.equal((await renter.api.call('getRental', { params: { rentalId: rental.id } })).state, 'ended', 'the renter is not billed');
    const rival = await createUser(server, 'rival');
    await assert.rejects(
      rival.api.call('rent', { body: { deviceId } }),
      (err: Error & { code?: string }) => err.code === 'device_not_listed',
    );
  } finally {
    holder.kill();
  }
  await waitFor('the device to be listed after the agent retries the wipe', () => listed(deviceId), 90_000);
  assert.equal((await owner.api.call('getDevice', { params: { deviceId } })).storageFault, null);
});

test('a drive the config does not allow formatting is refused, left untouched, and the owner sees why', { skip }, async () => {
  const usb = usbDrive(32);
  const holiday = `holiday-photos-${randomBytes(8).toString('hex')}`;
  writeFileSync(usb.path, holiday);
  const { deviceId } = await enrol('pi-with-photos', { kind: 'block', device: usb.path });
  const d = await waitFor('the fault to reach the owner', async () => {
    const dev = await owner.api.call('getDevice', { params: { deviceId } });
    return dev.storageFault ? dev : undefined;
  });
  assert.match(d.storageFault!, new RegExp(`refusing to format ${usb.path} .*"allowFormat": true`));
  assert.equal(d.listed, false);
  assert.equal(await listed(deviceId), false);
  assert.ok(rawBytesContain(usb.path, Buffer.from(holiday)), "the owner's data is untouched");
});
