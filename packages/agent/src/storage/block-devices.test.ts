import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkNamedDevice, chooseAutoDisk, listDisks } from './block-devices.ts';

interface FakeDisk {
  name: string;
  dev: string;
  sizeGB?: number;
  removable?: boolean;
  /** Attached through USB: /sys/block/NAME links into a usb path, as on a real machine. */
  usb?: boolean;
  model?: string;
  partitions?: { name: string; dev: string; holders?: string[] }[];
}

/** A fake root with sys/block, proc/self/mountinfo and proc/swaps, as the kernel lays them out. */
function fakeSystem(disks: FakeDisk[], mounts: { dev: string; at: string }[] = [], swaps: string[] = []): string {
  const root = mkdtempSync(join(tmpdir(), 'p2pvps-fakesys-'));
  mkdirSync(join(root, 'sys/block'), { recursive: true });
  for (const d of disks) {
    const bus = d.usb ? 'platform/scb/fd500000.pcie/pci0000:00/0000:01:00.0/usb2/2-1/2-1:1.0/host0/target0:0:0/0:0:0:0' : 'platform/emmc2';
    const dir = join(root, 'sys/devices', bus, 'block', d.name);
    mkdirSync(join(dir, 'holders'), { recursive: true });
    mkdirSync(join(dir, 'device'), { recursive: true });
    writeFileSync(join(dir, 'dev'), `${d.dev}\n`);
    writeFileSync(join(dir, 'size'), `${Math.round(((d.sizeGB ?? 32) * 1e9) / 512)}\n`);
    writeFileSync(join(dir, 'removable'), d.removable ? '1\n' : '0\n');
    writeFileSync(join(dir, 'ro'), '0\n');
    writeFileSync(join(dir, 'device/model'), `${d.model ?? ''}\n`);
    for (const p of d.partitions ?? []) {
      mkdirSync(join(dir, p.name, 'holders'), { recursive: true });
      writeFileSync(join(dir, p.name, 'partition'), '1\n');
      writeFileSync(join(dir, p.name, 'dev'), `${p.dev}\n`);
      for (const h of p.holders ?? []) mkdirSync(join(dir, p.name, 'holders', h));
    }
    symlinkSync(dir, join(root, 'sys/block', d.name));
  }
  mkdirSync(join(root, 'proc/self'), { recursive: true });
  const info = mounts.map((m, i) => `${20 + i} 1 ${m.dev} / ${m.at.replace(/ /g, '\\040')} rw,relatime shared:1 - ext4 /dev/root rw`);
  writeFileSync(join(root, 'proc/self/mountinfo'), `${info.join('\n')}\n`);
  const swapLines = swaps.map((s) => `/dev/${s} partition 1048572 0 -2`);
  writeFileSync(join(root, 'proc/swaps'), ['Filename Type Size Used Priority', ...swapLines].join('\n') + '\n');
  return root;
}

/** A Raspberry Pi booting from its SD card: / and /boot/firmware on mmcblk0 (reported as /dev/root). */
const sdCard: FakeDisk = {
  name: 'mmcblk0',
  dev: '179:0',
  model: '',
  partitions: [
    { name: 'mmcblk0p1', dev: '179:1' },
    { name: 'mmcblk0p2', dev: '179:2' },
  ],
};
const piMounts = [
  { dev: '179:2', at: '/' },
  { dev: '179:1', at: '/boot/firmware' },
];

test('auto finds the one removable, unmounted disk and skips the SD card the Pi boots from', () => {
  const root = fakeSystem(
    [
      sdCard,
      {
        name: 'sda',
        dev: '8:0',
        removable: true,
        usb: true,
        model: 'Cruzer Blade',
        sizeGB: 32,
        partitions: [{ name: 'sda1', dev: '8:1' }],
      },
    ],
    piMounts,
  );
  const disks = listDisks(root);
  assert.deepEqual(
    disks.map((d) => [d.name, d.inUse.length > 0]),
    [
      ['mmcblk0', true],
      ['sda', false],
    ],
  );
  assert.match(disks[0]!.inUse.join(), /boot disk/);
  const chosen = chooseAutoDisk(disks);
  assert.equal(chosen.path, '/dev/sda');
  assert.equal(chosen.usb, true);
});

test('a USB SSD that does not say it is removable still counts; loop and zram devices never do', () => {
  const root = fakeSystem(
    [
      sdCard,
      { name: 'loop0', dev: '7:0', removable: false },
      { name: 'zram0', dev: '254:0', removable: false },
      { name: 'sda', dev: '8:0', removable: false, usb: true, model: 'Extreme SSD', sizeGB: 500 },
    ],
    piMounts,
  );
  assert.equal(chooseAutoDisk(listDisks(root)).path, '/dev/sda');
});

test('a mounted USB drive, a swap partition, a RAID member and a fixed internal disk are refused, each with its reason', () => {
  const root = fakeSystem(
    [
      sdCard,
      { name: 'sda', dev: '8:0', removable: true, usb: true, partitions: [{ name: 'sda1', dev: '8:1' }] },
      { name: 'sdb', dev: '8:16', removable: true, usb: true, partitions: [{ name: 'sdb1', dev: '8:17' }] },
      { name: 'sdc', dev: '8:32', removable: true, usb: true, partitions: [{ name: 'sdc1', dev: '8:33', holders: ['md0'] }] },
      { name: 'nvme0n1', dev: '259:0', removable: false },
    ],
    [...piMounts, { dev: '8:1', at: '/media/pi/HOLIDAY PHOTOS' }],
    ['sdb1'],
  );
  assert.throws(
    () => chooseAutoDisk(listDisks(root)),
    (err: Error) => {
      assert.match(err.message, /no removable, unmounted disk was found/);
      assert.match(err.message, /\/dev\/mmcblk0: it is the boot disk/);
      assert.match(err.message, /\/dev\/sda: sda1 is mounted at \/media\/pi\/HOLIDAY PHOTOS/);
      assert.match(err.message, /\/dev\/sdb: sdb1 is in use as swap/);
      assert.match(err.message, /\/dev\/sdc: sdc1 is held by md0/);
      assert.match(err.message, /\/dev\/nvme0n1: not removable/);
      return true;
    },
  );
});

test('two candidates: auto refuses to guess and asks for a name', () => {
  const root = fakeSystem(
    [
      sdCard,
      { name: 'sda', dev: '8:0', removable: true, usb: true, model: 'Cruzer Blade', sizeGB: 32 },
      { name: 'sdb', dev: '8:16', removable: true, usb: true, model: 'DataTraveler', sizeGB: 64 },
    ],
    piMounts,
  );
  assert.throws(
    () => chooseAutoDisk(listDisks(root)),
    /several disks could be the renter storage: \/dev\/sda \(Cruzer Blade, 32\.0 GB\), \/dev\/sdb \(DataTraveler, 64\.0 GB\); name one/,
  );
});

test('no disks at all: auto says to plug one in', () => {
  assert.throws(() => chooseAutoDisk(listDisks(fakeSystem([sdCard], piMounts))), /plug in a USB drive/);
});

test('a named device is checked by its device number: the boot disk and a busy disk are refused', () => {
  const root = fakeSystem(
    [
      sdCard,
      {
        name: 'sda',
        dev: '8:0',
        usb: true,
        partitions: [
          { name: 'sda1', dev: '8:1' },
          { name: 'sda2', dev: '8:2' },
        ],
      },
    ],
    [...piMounts, { dev: '8:2', at: '/srv' }],
  );
  const disks = listDisks(root);
  assert.throws(() => checkNamedDevice(disks, '/dev/mmcblk0p2', '179:2'), /refusing to use \/dev\/mmcblk0p2 .*boot disk/);
  assert.throws(() => checkNamedDevice(disks, '/dev/sda1', '8:1'), /refusing to use \/dev\/sda1 .*sda2 is mounted at \/srv/);
  assert.throws(() => checkNamedDevice(disks, '/dev/sdz', '8:240'), /not a disk or partition this system knows/);
});
