import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { deriveKey, EncryptedHome, WrongKeyError } from './encrypted-home.ts';
import { devNumberOf } from './block-devices.ts';
import { RenterStorage } from './renter-storage.ts';
import { createLoopDevice, rawBytesContain, storageTestsPossible, type LoopDevice } from './test-support.ts';

/**
 * A renter's encrypted home with the kernel's own encryption (ext4 fscrypt, policy v2) on a
 * real loop device standing in for the owner's USB drive.
 */
const skip = storageTestsPossible() || (spawnSync('python3', ['--version']).status !== 0 ? 'needs python3' : false);
const opened: RenterStorage[] = [];
const loops: LoopDevice[] = [];

after(async () => {
  for (const s of opened) await s.release().catch(() => undefined);
  for (const l of loops) l.detach();
});

function encryptedStorage(): { s: RenterStorage & { encryptedHome: EncryptedHome }; usb: LoopDevice; dataDir: string } {
  const usb = createLoopDevice(64);
  loops.push(usb);
  const dataDir = mkdtempSync(join(tmpdir(), 'p2pvps-crypt-'));
  const s = new RenterStorage({
    config: { kind: 'block', device: usb.path, allowFormat: true },
    wipe: 'discard',
    dataDir,
    homeEncryption: 'fscrypt-v2',
    log: () => undefined,
  });
  opened.push(s);
  assert.ok(s.encryptedHome instanceof EncryptedHome);
  return { s: s as RenterStorage & { encryptedHome: EncryptedHome }, usb, dataDir };
}

async function waitUntil(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(check(), 'the condition did not come true in 10 s');
}

/** Every file under `dir`, read whole: what an owner finds in the agent's data dir. */
function filesUnder(dir: string): Buffer[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name)));
}

describe('encrypted renter home (fscrypt)', { skip }, () => {
  test('the renter’s file is on the device only as ciphertext; after a reboot it is locked until the renter’s key opens it; the key is nowhere on disk; the end destroys it', async () => {
    const { s, usb, dataDir } = encryptedStorage();
    await s.open({ keep: false, cleanUuid: null });
    const secret = `correct horse ${randomBytes(12).toString('hex')}`;
    await s.encryptedHome.create('rental-1', secret);
    assert.equal(await s.encryptedHome.locked(), false, 'unlocked while the rental runs');

    const marker = `renter-marker-${randomBytes(16).toString('hex')}`;
    const name = `diary-${randomBytes(6).toString('hex')}.txt`;
    writeFileSync(join(s.homeDir, name), `${marker}\n`.repeat(100));
    spawnSync('sync');
    assert.equal(readFileSync(join(s.homeDir, name), 'utf8').slice(0, marker.length), marker, 'the renter reads their own file');
    assert.equal(rawBytesContain(usb.path, Buffer.from(marker)), false, 'while the rental runs, the raw device holds no plaintext of it');
    assert.equal(rawBytesContain(usb.path, Buffer.from(name)), false, 'nor its name');

    // A reboot, as far as the kernel is concerned: the filesystem is unmounted, its keyring goes with it.
    await s.release();
    await s.open({ keep: true, cleanUuid: null });
    assert.equal(await s.encryptedHome.locked(), true, 'locked after the reboot');
    const names = readdirSync(s.homeDir);
    assert.equal(names.length, 1);
    assert.notEqual(names[0], name, 'the locked home shows only encrypted names');
    assert.throws(() => readFileSync(join(s.homeDir, names[0]!)), /ENOKEY|Required key not available|error -126/, 'and no content');

    await assert.rejects(s.encryptedHome.unlock('not the renter’s secret'), WrongKeyError);
    assert.equal(await s.encryptedHome.locked(), true, 'a wrong secret leaves it locked');
    await s.encryptedHome.unlock(secret);
    assert.equal(await s.encryptedHome.locked(), false);
    assert.ok(readFileSync(join(s.homeDir, name), 'utf8').startsWith(marker), 'the renter’s file is back as it was');

    // Neither the secret nor the key made from it is written anywhere: the raw device, the agent's data dir.
    const record = s.encryptedHome.record()!;
    const key = await deriveKey(secret, Buffer.from(record.kdf.salt, 'hex'));
    await s.release();
    for (const needle of [Buffer.from(secret), key, Buffer.from(key.toString('hex')), Buffer.from(key.toString('base64'))]) {
      assert.equal(rawBytesContain(usb.path, needle), false, 'the device holds neither the secret nor the key');
      assert.equal(
        filesUnder(dataDir).some((f) => f.includes(needle)),
        false,
        'nor does the agent’s data dir',
      );
    }
    assert.ok(
      rawBytesContain(usb.path, Buffer.from(record.keyIdentifier, 'hex')),
      'the policy names the key on the device (a test that can fail)',
    );

    // The end of the rental: key out of the kernel, record destroyed, then the wipe.
    await s.open({ keep: true, cleanUuid: null });
    await s.encryptedHome.unlock(secret);
    await s.wipe();
    assert.equal(existsSync(join(s.mountDir, 'encryption.json')), false, 'the record is gone');
    assert.equal(s.encryptedHome.record(), null);
    await s.release();
    for (const needle of [Buffer.from(record.keyIdentifier, 'hex'), Buffer.from(record.kdf.salt, 'hex'), Buffer.from(record.kdf.salt)])
      assert.equal(rawBytesContain(usb.path, needle), false, 'no policy, salt or key identifier is left on the device');
  });

  test('a restart locks the home even while another mount namespace still holds the filesystem (a container being made then)', async () => {
    const { s, usb } = encryptedStorage();
    await s.open({ keep: false, cleanUuid: null });
    const secret = `held elsewhere ${randomBytes(8).toString('hex')}`;
    await s.encryptedHome.create('rental-3', secret);
    // A process in a mount namespace of its own, copied while the storage is mounted: the
    // superblock (and the key in its keyring) outlives our unmount while it lives.
    const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', '60'], { stdio: 'ignore' });
    try {
      const dev = devNumberOf(usb.path);
      await waitUntil(() => {
        try {
          return readFileSync(`/proc/${holder.pid}/mountinfo`, 'utf8').includes(` ${dev} `);
        } catch {
          return false;
        }
      });
      await s.release();
      await s.open({ keep: true, cleanUuid: null });
      assert.equal(await s.encryptedHome.locked(), true, 'locked after the restart, although the filesystem lived on elsewhere');
      await s.encryptedHome.unlock(secret);
      assert.equal(await s.encryptedHome.locked(), false);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  test('a home made for one renter cannot be opened by a secret differing in one character', async () => {
    const { s } = encryptedStorage();
    await s.open({ keep: false, cleanUuid: null });
    await s.encryptedHome.create('rental-2', 'secret-one-1234');
    await s.release();
    await s.open({ keep: true, cleanUuid: null });
    await assert.rejects(s.encryptedHome.unlock('secret-one-1235'), /does not open this rental’s storage/);
  });
});
