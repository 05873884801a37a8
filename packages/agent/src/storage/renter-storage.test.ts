import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StorageConfig } from '../config.ts';
import { readExt4Uuid, RenterStorage, type WipeMode } from './renter-storage.ts';
import { createLoopDevice, rawBytesContain, storageTestsPossible, type LoopDevice } from './test-support.ts';

/**
 * The renter storage against real loop devices and real mkfs/mount: a loop device the
 * test creates stands in for a USB drive.
 */
const skip = storageTestsPossible();
const opened: RenterStorage[] = [];
const loops: LoopDevice[] = [];

after(async () => {
  for (const s of opened) await s.release().catch(() => undefined);
  for (const l of loops) l.detach();
});

function storage(config: StorageConfig, wipe: WipeMode = 'discard'): RenterStorage {
  const s = new RenterStorage({ config, wipe, dataDir: mkdtempSync(join(tmpdir(), 'p2pvps-storage-')), log: () => undefined });
  opened.push(s);
  return s;
}

function usbDrive(sizeMiB = 64): LoopDevice {
  const l = createLoopDevice(sizeMiB);
  loops.push(l);
  return l;
}

describe('renter storage', { skip }, () => {
  test('the default is an image file of the configured size, and the renter cannot write past it', async () => {
    const s = storage({ kind: 'image', sizeMiB: 32 });
    const uuid = await s.open({ keep: false, cleanUuid: null });
    const image = join(s.mountDir, '..', 'renter-storage.img');
    assert.equal(statSync(image).size, 32 * 1024 * 1024);
    assert.equal(readExt4Uuid(image), uuid, 'a fresh filesystem, whose UUID the agent remembers as clean');
    const fs = statfsSync(s.homeDir);
    const sizeMiB = (Number(fs.blocks) * fs.bsize) / 1024 / 1024;
    assert.ok(sizeMiB > 24 && sizeMiB <= 32, `the renter sees a ${sizeMiB} MiB filesystem`);
    assert.throws(() => writeFileSync(join(s.homeDir, 'big'), Buffer.alloc(40 * 1024 * 1024)), /ENOSPC/);
  });

  test("the filesystem is the rented disk's size, exactly as df shows it, and stays so across wipes", async () => {
    const MiB = 1024 * 1024;
    const s = storage({ kind: 'image', sizeMiB: 64 });
    await s.open({ keep: false, cleanUuid: null });
    assert.equal(s.capacityBytes(), 64 * MiB, 'the largest disk a rental can be offered');
    assert.equal(s.filesystemBytes(), 64 * MiB, 'the whole image until a rental says otherwise');
    const fitted = await s.fitTo(20 * MiB);
    assert.ok(fitted, 'made anew at the rented size');
    const fs = statfsSync(s.homeDir);
    assert.equal(Number(fs.blocks) * fs.bsize, 20 * MiB, 'df /home shows the rented 20 MiB');
    assert.throws(() => writeFileSync(join(s.homeDir, 'big'), Buffer.alloc(21 * MiB)), /ENOSPC/);
    assert.equal(await s.fitTo(20 * MiB), null, 'the right size already: left as it is');
    await s.wipe();
    assert.equal(s.filesystemBytes(), 20 * MiB, 'the wipe keeps the size');
    await s.fitTo(null);
    assert.equal(s.filesystemBytes(), 64 * MiB);
    await s.fitTo(100 * MiB);
    assert.equal(s.filesystemBytes(), 64 * MiB, 'never more than the storage holds');
  });

  test('at start: kept mid-rental, mounted as it is when known clean, wiped when not', async () => {
    const s = storage({ kind: 'image', sizeMiB: 32 });
    const clean = await s.open({ keep: false, cleanUuid: null });
    assert.ok(clean);
    writeFileSync(join(s.homeDir, 'kept'), 'x');
    await s.release();
    assert.equal(await s.open({ keep: true, cleanUuid: null }), null, 'a rental on it: mounted, not clean');
    assert.ok(existsSync(join(s.homeDir, 'kept')), 'mid-rental, the files are kept');
    await s.release();
    assert.equal(await s.open({ keep: false, cleanUuid: clean }), clean, 'the agent says it is clean: no wipe at every start');
    await s.release();
    const fresh = await s.open({ keep: false, cleanUuid: 'a-filesystem-that-is-gone' });
    assert.ok(fresh && fresh !== clean, 'not the filesystem the agent left clean: wiped');
    assert.equal(existsSync(join(s.homeDir, 'kept')), false);
  });

  test('a block device is not formatted unless the config allows it, and is left untouched', async () => {
    const usb = usbDrive();
    const owners = randomBytes(32).toString('hex');
    writeFileSync(usb.path, owners);
    const s = storage({ kind: 'block', device: usb.path, allowFormat: false });
    await assert.rejects(
      s.open({ keep: false, cleanUuid: null }),
      new RegExp(`refusing to format ${usb.path} .*does not allow that.*"allowFormat": true`),
    );
    assert.equal(s.mounted(), false);
    assert.ok(rawBytesContain(usb.path, Buffer.from(owners)), "the owner's data is still on the device");
  });

  test('a device the system is using is refused even with allowFormat', async () => {
    const usb = usbDrive();
    const busy = storage({ kind: 'block', device: usb.path, allowFormat: true });
    await busy.open({ keep: false, cleanUuid: null });
    const other = storage({ kind: 'block', device: usb.path, allowFormat: true });
    await assert.rejects(other.open({ keep: false, cleanUuid: null }), /refusing to use .* is mounted at/);
  });

  for (const wipe of ['discard', 'overwrite'] as const) {
    test(`wipe (${wipe}): a renter's file cannot be found anywhere on the raw device afterwards`, async () => {
      const usb = usbDrive();
      const s = storage({ kind: 'block', device: usb.path, allowFormat: true }, wipe);
      const first = await s.open({ keep: false, cleanUuid: null });
      const marker = Buffer.from(`renter-secret-${randomBytes(16).toString('hex')}`);
      writeFileSync(join(s.homeDir, 'marker'), Buffer.concat([marker, Buffer.from('\n')]));
      await s.release(); // flushes it to the device
      assert.ok(rawBytesContain(usb.path, marker), 'the scan finds the marker before the wipe');
      await s.open({ keep: true, cleanUuid: null });
      const second = await s.wipe();
      assert.notEqual(second, first);
      assert.ok(s.mounted(), 'mounted again, ready for the next renter');
      assert.equal(existsSync(join(s.homeDir, 'marker')), false);
      await s.release();
      assert.equal(rawBytesContain(usb.path, marker), false, 'no trace of the marker on the raw device');
      assert.equal(rawBytesContain(usb.backingFile, marker), false, 'nor in the file behind it');
    });
  }
});
