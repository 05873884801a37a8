/**
 * The cost of a renter's encrypted home on disk throughput: the same loop device, ext4 made
 * as the agent makes it, written and read through the plain home and through an encrypted
 * one (fscrypt v2, AES-256-XTS, the agent's own code), side by side. Writes SIZE_MIB with
 * dd and fdatasync, drops the caches, reads it back; each figure the median of N runs.
 *
 *   node --import tsx bench/encrypted-storage.ts [N] [SIZE_MIB]
 *
 * Needs root (loop devices, mount) and python3 (docs/encryption.md).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RenterStorage } from '../packages/agent/src/storage/renter-storage.ts';
import { createLoopDevice, storageTestsPossible } from '../packages/agent/src/storage/test-support.ts';

const runs = Number(process.argv[2] ?? 3);
const sizeMiB = Number(process.argv[3] ?? 256);
const cannot = storageTestsPossible();
if (cannot) {
  console.error(`encrypted-storage bench: ${cannot}`);
  process.exit(1);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** MiB/s writing then reading `sizeMiB` in `dir`, caches dropped in between. */
function measure(dir: string): { write: number; read: number } {
  const file = join(dir, 'bench.bin');
  const t0 = performance.now();
  execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${sizeMiB}`, 'conv=fdatasync', 'status=none']);
  const write = sizeMiB / ((performance.now() - t0) / 1000);
  spawnSync('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches']);
  const t1 = performance.now();
  execFileSync('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M', 'status=none']);
  const read = sizeMiB / ((performance.now() - t1) / 1000);
  rmSync(file);
  return { write, read };
}

const usb = createLoopDevice(sizeMiB + 128);
const dataDir = mkdtempSync(join(tmpdir(), 'p2pvps-bench-crypt-'));
const storage = new RenterStorage({
  config: { kind: 'block', device: usb.path, allowFormat: true },
  wipe: 'discard',
  dataDir,
  homeEncryption: 'fscrypt-v2',
  log: () => undefined,
});
const results: Record<'plain' | 'encrypted', { write: number[]; read: number[] }> = {
  plain: { write: [], read: [] },
  encrypted: { write: [], read: [] },
};
try {
  for (let i = 0; i < runs; i++) {
    for (const kind of ['plain', 'encrypted'] as const) {
      await storage.wipe();
      if (kind === 'encrypted') await storage.encryptedHome.create('bench', 'a bench secret, long enough');
      const r = measure(storage.homeDir);
      results[kind].write.push(r.write);
      results[kind].read.push(r.read);
    }
  }
} finally {
  await storage.wipe().catch(() => undefined);
  await storage.release();
  usb.detach();
}
const row = (kind: 'plain' | 'encrypted') =>
  `| ${kind.padEnd(9)} | ${median(results[kind].write).toFixed(0).padStart(6)} | ${median(results[kind].read).toFixed(0).padStart(6)} |`;
console.log(`Renter home on a loop device, ${sizeMiB} MiB, median of ${runs} (MiB/s)\n`);
console.log('| home      | write  | read   |\n| --------- | ------ | ------ |');
console.log(row('plain'));
console.log(row('encrypted'));
