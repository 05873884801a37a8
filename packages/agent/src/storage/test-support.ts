import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { devNumberOf } from './block-devices.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Tests of the renter storage need root and the tools the agent runs; elsewhere they are skipped. */
export function storageTestsPossible(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (loop devices, mount)';
  for (const tool of ['losetup', 'mkfs.ext4', 'blkdiscard', 'mount', 'blockdev']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `needs ${tool}`;
  }
  return false;
}

export interface LoopDevice {
  /** /dev/loopN */
  path: string;
  backingFile: string;
  detach(): void;
}

/** A loop device over a file in a temp dir, standing in for a USB drive. */
export function createLoopDevice(sizeMiB: number): LoopDevice {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-usb-'));
  const backingFile = join(dir, 'usb-drive.img');
  writeFileSync(backingFile, '');
  truncateSync(backingFile, sizeMiB * 1024 * 1024);
  const path = execFileSync('losetup', ['--find', '--show', backingFile], { encoding: 'utf8' }).trim();
  return {
    path,
    backingFile,
    detach() {
      spawnSync('losetup', ['-d', path]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Whether `needle` occurs anywhere in the raw bytes of a device or file. The block device's
 * page cache is dropped first, so what is read is what the device holds.
 */
export function rawBytesContain(path: string, needle: Buffer): boolean {
  spawnSync('blockdev', ['--flushbufs', path]);
  const fd = openSync(path, 'r');
  const chunk = Buffer.alloc(4 * 1024 * 1024);
  let carry = Buffer.alloc(0);
  try {
    for (let at = 0; ;) {
      const n = readSync(fd, chunk, 0, chunk.length, at);
      if (n === 0) return false;
      at += n;
      // Keep the tail so a needle split between two reads is still found.
      const window = Buffer.concat([carry, chunk.subarray(0, n)]);
      if (window.includes(needle)) return true;
      carry = window.subarray(Math.max(0, window.length - needle.length + 1));
    }
  } finally {
    closeSync(fd);
  }
}

/** Whether any process's mount namespace still has a filesystem of this block device mounted. */
export function mountedAnywhere(device: string): boolean {
  const dev = ` ${devNumberOf(device)} `;
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .some((pid) => {
      try {
        return readFileSync(`/proc/${pid}/mountinfo`, 'utf8').includes(dev);
      } catch {
        return false; // gone meanwhile, or a kernel thread
      }
    });
}
