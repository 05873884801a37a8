import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { deriveKey, type EncryptionRecord } from '@p2pvps/agent/storage/encrypted-home';
import { storageMountDir } from '@p2pvps/agent/storage/renter-storage';
import {
  createLoopDevice,
  mountedAnywhere,
  rawBytesContain,
  storageTestsPossible,
  type LoopDevice,
} from '@p2pvps/agent/storage/test-support';
import {
  createAgent,
  createServer,
  createSshKey,
  createUser,
  openSsh,
  rentalContainers,
  docker,
  removeDeviceContainers,
  waitFor,
  type TestServer,
} from './harness.ts';

/**
 * Renter-held encryption with the real parts: a server, a real agent whose renter storage is
 * a loop device standing in for the owner's USB drive, ext4's own encryption in the kernel,
 * the renter's container and OpenSSH. The secret is looked for everywhere it must not be:
 * the raw drive, the agent's data dir and log, the server's database and log.
 */
const skip = storageTestsPossible() || (spawnSync('python3', ['--version']).status !== 0 ? 'needs python3' : false);
let server: TestServer;
const serverLog: string[] = [];
const agentLog: string[] = [];
let usb: LoopDevice | undefined;
let deviceId: string | undefined;

before(async () => {
  if (skip) return;
  server = await createServer({ env: { P2PVPS_LOG_LEVEL: 'debug' }, logStream: { write: (line) => void serverLog.push(line) } });
});

after(async () => {
  await removeDeviceContainers(deviceId);
  usb?.detach();
  await server?.stop();
});

/** Every file under `dir`, read whole. */
function filesUnder(dir: string): Buffer[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name)));
}

test(
  'an encrypted rental: ciphertext on the drive, locked after a reboot until its renter unlocks it, the secret nowhere on disk or in logs, the key material gone at the end',
  { skip },
  async () => {
    usb = createLoopDevice(96);
    const owner = await createUser(server, 'owner');
    const grant = await owner.api.call('addDevice', { body: { name: 'vault-pi' } });
    deviceId = grant.device.id;
    const agent = await createAgent(server, grant.enrolmentToken, {
      storage: { kind: 'block', device: usb.path, allowFormat: true },
      log: (level, msg) => void agentLog.push(`${level} ${msg}`),
    });
    const id = deviceId;
    await waitFor('the device online', async () => (await owner.api.call('getDevice', { params: { deviceId: id } })).online);
    await owner.api.call('updateDevice', { params: { deviceId: id }, body: { pricePerHourMicros: 10_000, onMarket: true } });

    const secret = `renter storage secret ${randomBytes(12).toString('hex')}`;
    const key = createSshKey();
    const renter = await createUser(server, 'renter');
    const rental = await renter.api.call('rent', { body: { deviceId: id, sshPublicKey: key.publicKey, encryptionKey: secret } });
    const rentalId = rental.id;
    const ssh = { port: rental.connection.port, user: rental.connection.username, identity: key.privatePath };
    await waitFor('ssh into the rental', async () => (await openSsh(ssh, 'true')).code === 0);
    assert.equal((await renter.api.call('getRental', { params: { rentalId } })).encrypted, true);

    // While the rental runs: the renter reads their file, the drive holds only ciphertext.
    const marker = `renter-marker-${randomBytes(16).toString('hex')}`;
    const wrote = await openSsh(
      ssh,
      `for i in $(seq 200); do echo ${marker}; done > ~/diary-entry.txt && sync && head -1 ~/diary-entry.txt`,
    );
    assert.equal(wrote.stdout.trim(), marker, wrote.stderr);
    assert.equal(rawBytesContain(usb.path, Buffer.from(marker)), false, 'the marker is not on the raw drive');
    assert.equal(rawBytesContain(usb.path, Buffer.from('diary-entry.txt')), false, 'nor the file name');

    // A reboot: the container and the agent stop, the storage is unmounted (its key leaves the kernel with it).
    const mountDir = storageMountDir(realpathSync(agent.dataDir));
    const record = JSON.parse(readFileSync(join(mountDir, 'encryption.json'), 'utf8')) as EncryptionRecord;
    await agent.stop();
    for (const c of await rentalContainers(rentalId)) await docker.getContainer(c.Id).stop({ t: 0 });
    const umount = spawnSync('umount', [mountDir], { encoding: 'utf8' });
    assert.equal(umount.status, 0, umount.stderr);
    // A reboot ends every mount namespace; one made meanwhile on this busy machine (another
    // test's container starting) would keep the filesystem, and its key, alive a moment longer.
    const drive = usb.path;
    await waitFor('no other mount namespace to hold the storage', async () => !mountedAnywhere(drive));
    await agent.restart();

    const locked = await waitFor('the owner to see the rental locked', async () => {
      const d = await owner.api.call('getDevice', { params: { deviceId: id } });
      return d.storageLocked ? d : undefined;
    });
    assert.match(locked.storageLocked!, /locked: it waits for the renter’s key/);
    assert.match((await renter.api.call('getRental', { params: { rentalId } })).storageLocked ?? '', /locked/);
    const home = join(mountDir, 'home');
    const users = readdirSync(home);
    assert.equal(users.includes(rental.connection.username), false, 'the owner sees only encrypted names');
    assert.notEqual((await openSsh(ssh, 'true', 15_000)).code, 0, 'the container does not run on a locked home');

    await renter.api.call('unlockRental', { params: { rentalId }, body: { key: 'not the renter’s secret at all' } });
    await waitFor('a wrong secret to be refused', async () =>
      /does not open/.test((await renter.api.call('getRental', { params: { rentalId } })).storageLocked ?? ''),
    );
    await renter.api.call('unlockRental', { params: { rentalId }, body: { key: secret } });
    await waitFor(
      'the storage unlocked',
      async () => (await renter.api.call('getRental', { params: { rentalId } })).storageLocked === null,
    );
    const back = await waitFor('ssh after unlocking', async () => {
      const r = await openSsh(ssh, 'head -1 ~/diary-entry.txt');
      return r.code === 0 && r;
    });
    assert.equal(back.stdout.trim(), marker, 'the renter’s file is back as it was');
    assert.equal((await owner.api.call('getDevice', { params: { deviceId: id } })).storageLocked, null);

    // The secret and the key made from it: nowhere on disk, nowhere in the logs.
    const derived = await deriveKey(secret, Buffer.from(record.kdf.salt, 'hex'));
    const needles = [Buffer.from(secret), derived, Buffer.from(derived.toString('hex')), Buffer.from(derived.toString('base64'))];
    spawnSync('sync');
    const serverFiles = filesUnder(server.dataDir);
    if (existsSync(join(server.dataDir, 'p2pvps.sqlite')))
      assert.ok(
        serverFiles.some((f) => f.includes(Buffer.from(rentalId))),
        'the database file holds the rental (a scan that can fail)',
      );
    assert.ok(serverLog.join('').includes('/unlock'), 'the server logged the requests (a scan that can fail)');
    for (const needle of needles) {
      assert.equal(rawBytesContain(usb.path, needle), false, 'not on the raw drive');
      assert.equal(
        filesUnder(agent.dataDir).some((f) => f.includes(needle)),
        false,
        'not in the agent’s data dir (state.json, keys)',
      );
      assert.equal(
        serverFiles.some((f) => f.includes(needle)),
        false,
        'not in the server’s data dir (its database)',
      );
      assert.equal(serverLog.join('').includes(needle.toString()), false, 'not in the server’s log');
      assert.equal(agentLog.join('\n').includes(needle.toString()), false, 'not in the agent’s log');
    }

    // The end: the key leaves the kernel, the record is destroyed, the drive is wiped.
    await renter.api.call('stopRental', { params: { rentalId } });
    await waitFor(
      'the device listed again',
      async () => (await renter.api.call('market', { query: {} })).listings.some((l) => l.deviceId === id),
      60_000,
    );
    assert.equal(existsSync(join(mountDir, 'encryption.json')), false, 'the record is gone');
    for (const needle of [Buffer.from(record.keyIdentifier, 'hex'), Buffer.from(record.kdf.salt, 'hex'), Buffer.from(record.kdf.salt)])
      assert.equal(rawBytesContain(usb.path, needle), false, 'no salt or key identifier left on the drive');
  },
);
