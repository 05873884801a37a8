import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WrongKeyError } from './encrypted-home.ts';
import { deviceMapperAvailable, LuksHome, luksHeaderBytes, type Exec } from './luks-home.ts';

/**
 * The LUKS2 home as far as this machine can check it: it has no device-mapper, so cryptsetup
 * never runs here (docs/encryption.md says so). These tests check the detection, the command
 * lines the agent would run (the secret on stdin, never in argv), and the order at the end of
 * a rental, against a recorder standing in for the commands.
 */

function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'p2pvps-dm-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

test('device-mapper is found when loaded, loadable or built in, and only with cryptsetup installed', () => {
  const release = { 'proc/sys/kernel/osrelease': '6.6.31+rpt-rpi-v8\n' };
  const cryptsetup = { 'usr/sbin/cryptsetup': '' };
  const loaded = { 'proc/misc': '200 tun\n236 device-mapper\n237 loop-control\n' };
  const loadable = {
    'lib/modules/6.6.31+rpt-rpi-v8/modules.dep':
      'kernel/drivers/md/dm-mod.ko.xz:\nkernel/drivers/md/dm-crypt.ko.xz: kernel/drivers/md/dm-mod.ko.xz\n',
  };
  const builtin = { 'lib/modules/6.6.31+rpt-rpi-v8/modules.builtin': 'kernel/drivers/md/dm-mod.ko\nkernel/drivers/md/dm-crypt.ko\n' };
  assert.equal(deviceMapperAvailable(fakeRoot({ ...release, ...loaded, ...cryptsetup })), true);
  assert.equal(deviceMapperAvailable(fakeRoot({ ...release, ...loadable, ...cryptsetup })), true);
  assert.equal(deviceMapperAvailable(fakeRoot({ ...release, ...builtin, ...cryptsetup })), true);
  assert.equal(deviceMapperAvailable(fakeRoot({ ...release, ...loaded })), false, 'no cryptsetup');
  // This project's test machine: no device-mapper line, no dm modules.
  assert.equal(deviceMapperAvailable(fakeRoot({ ...release, 'proc/misc': '200 tun\n237 loop-control\n', ...cryptsetup })), false);
  assert.equal(
    deviceMapperAvailable(
      fakeRoot({ ...release, 'lib/modules/6.6.31+rpt-rpi-v8/modules.dep': 'kernel/drivers/md/dm-mod.ko.xz:\n', ...cryptsetup }),
    ),
    false,
    'device-mapper without dm-crypt',
  );
});

interface Call {
  command: string;
  args: string[];
  input?: string;
}

/** A storage dir, a fake /dev/mapper, and a recorder that plays cryptsetup's part (it makes and removes the mapper node). */
function recordedHome(opts: { secret: string; failing?: string[] } = { secret: '' }) {
  const mountDir = mkdtempSync(join(tmpdir(), 'p2pvps-luks-'));
  const homeDir = join(mountDir, 'home');
  mkdirSync(homeDir);
  const mapperDir = mkdtempSync(join(tmpdir(), 'p2pvps-mapper-'));
  const calls: Call[] = [];
  /** Whether the volume's first bytes were all zeros when cryptsetup erase ran. */
  const seen: { headerZeroAtErase?: boolean } = {};
  let home!: LuksHome;
  const exec: Exec = async (command, args, input) => {
    calls.push({ command, args, ...(input ? { input: input.toString() } : {}) });
    const fail = opts.failing?.some((f) => `${command} ${args[0]}`.startsWith(f));
    if (args[0] === 'erase')
      seen.headerZeroAtErase = readFileSync(home.volumePath)
        .subarray(0, 16)
        .every((b) => b === 0);
    if (command === 'cryptsetup' && args[0] === 'open') {
      if (input?.toString() !== opts.secret) return { code: 2, stdout: '', stderr: 'No key available with this passphrase.' };
      writeFileSync(join(mapperDir, home.mapperName), '');
    }
    return fail ? { code: 1, stdout: '', stderr: `${command} failed` } : { code: 0, stdout: '', stderr: '' };
  };
  home = new LuksHome({ mountDir, homeDir, mapperDir, exec, freeBytes: () => 256 * 1024 * 1024 });
  return { home, calls, seen, mountDir, homeDir, mapperDir };
}

test('create: a LUKS2 volume with an Argon2id key slot, formatted and opened with the secret on stdin, then ext4 mounted as the home', async () => {
  const secret = 'correct horse battery stáple';
  const { home, calls, mountDir, homeDir, mapperDir } = recordedHome({ secret });
  assert.equal(home.encrypted(), false);
  await home.create('rental-1', secret);
  const volume = join(mountDir, 'home.luks');
  const mapper = join(mapperDir, home.mapperName);
  assert.deepEqual(
    calls.map((c) => [c.command, ...c.args]),
    [
      [
        'cryptsetup',
        'luksFormat',
        '--batch-mode',
        '--type',
        'luks2',
        '--cipher',
        'aes-xts-plain64',
        '--key-size',
        '512',
        '--pbkdf',
        'argon2id',
        '--pbkdf-memory',
        '131072',
        '--key-file=-',
        volume,
      ],
      ['cryptsetup', 'open', '--type', 'luks2', '--key-file=-', volume, home.mapperName],
      ['mkfs.ext4', '-F', '-q', '-m', '0', '-E', 'discard', mapper],
      ['mount', '-t', 'ext4', '-o', 'nodev,nosuid', mapper, homeDir],
      ['rmdir', join(homeDir, 'lost+found')],
    ],
  );
  for (const c of calls) assert.ok(!c.args.some((a) => a.includes(secret)), `the secret is never an argument (${c.command} ${c.args[0]})`);
  assert.equal(calls[0]!.input, secret.normalize('NFC'), 'luksFormat reads the secret from stdin, exactly, no newline');
  assert.equal(calls[1]!.input, secret.normalize('NFC'));
  // The volume fills the free room less a margin, in whole MiB, sparse.
  assert.equal(statSync(volume).size, 248 * 1024 * 1024);
  assert.equal(home.encrypted(), true);
  assert.equal(await home.locked(), false, 'open while the rental runs');
});

test('after a reboot the home is locked; a wrong secret is refused as such; the right one opens and mounts it', async () => {
  const secret = 'the renter’s own secret';
  const { home, calls, mapperDir, homeDir } = recordedHome({ secret });
  await home.create('rental-2', secret);
  // The reboot: device-mapper's nodes are gone.
  rmSync(join(mapperDir, home.mapperName));
  assert.equal(await home.locked(), true);
  calls.length = 0;
  await assert.rejects(home.unlock('not it'), WrongKeyError);
  assert.equal(await home.locked(), true);
  assert.deepEqual(
    calls.map((c) => [c.command, c.args[0]]),
    [['cryptsetup', 'open']],
    'nothing is mounted after a refused secret',
  );
  await home.unlock(secret);
  assert.equal(await home.locked(), false);
  assert.deepEqual(calls.at(-1)!.args.slice(-2), [join(mapperDir, home.mapperName), homeDir]);
});

test('the end of a rental: unmount, close, erase the key slots, zero the header, delete the volume — in that order', async () => {
  const secret = 'another long secret';
  const { home, calls, seen, mountDir, homeDir } = recordedHome({ secret });
  await home.create('rental-3', secret);
  const volume = join(mountDir, 'home.luks');
  // What cryptsetup would have written: a header that is not zeros.
  writeFileSync(volume, Buffer.alloc(luksHeaderBytes + 4096, 0x4c));
  calls.length = 0;
  await home.destroy();
  assert.deepEqual(
    calls.map((c) => [c.command, ...c.args]),
    [
      ['umount', homeDir],
      ['cryptsetup', 'close', home.mapperName],
      ['cryptsetup', 'erase', '--batch-mode', volume],
    ],
  );
  assert.equal(seen.headerZeroAtErase, false, 'cryptsetup erases the key slots first, then the header is zeroed');
  assert.equal(existsSync(volume), false, 'the volume file is gone before the wipe');
  assert.equal(home.encrypted(), false);
  await home.destroy(); // nothing left: nothing runs
  assert.equal(calls.length, 3);
});

test('a locked home still has its key slots erased at the end; an erase that fails stops the end before the wipe', async () => {
  const secret = 'a locked renter';
  const { home, mountDir } = recordedHome({ secret, failing: ['umount', 'cryptsetup close'] });
  await home.create('rental-4', secret);
  writeFileSync(join(mountDir, 'home.luks'), 'x');
  await home.destroy(); // umount and close fail (nothing open after a reboot): fine
  assert.equal(existsSync(join(mountDir, 'home.luks')), false);

  const broken = recordedHome({ secret, failing: ['cryptsetup erase'] });
  await broken.home.create('rental-5', secret);
  await assert.rejects(broken.home.destroy(), /cryptsetup erase/);
  assert.equal(broken.home.encrypted(), true, 'the volume is kept for the owner to see why');
});
