import { closeSync, constants, fsyncSync, openSync, readSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface DiskFigures {
  diskBytes: number;
  diskSeqWriteBytesPerSec: number;
  diskSeqReadBytesPerSec: number;
  diskRandomReadIops: number;
  diskMethod: 'direct' | 'fsync' | 'none';
}

const blockSize = 1024 * 1024;
const pageSize = 4096;

/**
 * The renter storage's free space and throughput: a file of `fileBytes` written and read
 * sequentially in 1 MiB blocks, then random 4 KiB reads for `randomMs`. The page cache is
 * bypassed with O_DIRECT where the filesystem allows it (ext4 does; tmpfs does not): that
 * needs buffers aligned in memory, which Node cannot ask for, so an aligned window into a
 * slightly larger buffer is found by trying (a misaligned O_DIRECT read fails at once with
 * EINVAL). Without O_DIRECT, writes are timed up to fsync and reads may come from the cache;
 * `diskMethod` says which. The file is removed afterwards; it is the agent's, outside `home/`.
 */
export function measureDisk(dir: string, fileBytes = 16 * 1024 * 1024, randomMs = 300): DiskFigures {
  const fs = statfsSync(dir);
  const diskBytes = Number(fs.bavail) * Number(fs.bsize);
  const path = join(dir, '.p2pvps-benchmark');
  const blocks = Math.max(1, Math.floor(Math.min(fileBytes, diskBytes / 4) / blockSize));
  if (diskBytes < 2 * blockSize)
    return { diskBytes, diskSeqWriteBytesPerSec: 0, diskSeqReadBytesPerSec: 0, diskRandomReadIops: 0, diskMethod: 'none' };
  const direct = tryOpen(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT);
  const method = direct === null ? 'fsync' : 'direct';
  try {
    const buffer = Buffer.allocUnsafeSlow(blockSize + pageSize).fill(0x5a);
    const fdw = direct ?? openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
    let block: Buffer = buffer.subarray(0, blockSize);
    if (direct !== null) block = alignedWindow(buffer, blockSize, (b) => writeSync(fdw, b, 0, b.length, 0));
    const writeStart = performance.now();
    for (let i = 0; i < blocks; i++) writeSync(fdw, block, 0, blockSize, i * blockSize);
    fsyncSync(fdw);
    const writeSecs = (performance.now() - writeStart) / 1000;
    closeSync(fdw);

    const fdr = openSync(path, constants.O_RDONLY | (direct !== null ? constants.O_DIRECT : 0));
    try {
      const readBlock = direct !== null ? alignedWindow(buffer, blockSize, (b) => readSync(fdr, b, 0, b.length, 0)) : block;
      const readStart = performance.now();
      for (let i = 0; i < blocks; i++) readSync(fdr, readBlock, 0, blockSize, i * blockSize);
      const readSecs = (performance.now() - readStart) / 1000;
      const page = readBlock.subarray(0, pageSize);
      const pages = (blocks * blockSize) / pageSize;
      const randomStart = performance.now();
      let reads = 0;
      while (performance.now() - randomStart < randomMs) {
        readSync(fdr, page, 0, pageSize, Math.floor(Math.random() * pages) * pageSize);
        reads++;
      }
      const randomSecs = (performance.now() - randomStart) / 1000;
      return {
        diskBytes,
        diskSeqWriteBytesPerSec: (blocks * blockSize) / writeSecs,
        diskSeqReadBytesPerSec: (blocks * blockSize) / readSecs,
        diskRandomReadIops: reads / randomSecs,
        diskMethod: method,
      };
    } finally {
      closeSync(fdr);
    }
  } finally {
    rmSync(path, { force: true });
  }
}

function tryOpen(path: string, flags: number): number | null {
  try {
    return openSync(path, flags, 0o600);
  } catch {
    return null;
  }
}

/** A `size`-byte window of `buffer` that O_DIRECT accepts: `probe` fails with EINVAL on a misaligned one. */
function alignedWindow(buffer: Buffer, size: number, probe: (b: Buffer) => number): Buffer {
  for (let offset = 0; offset + size <= buffer.length; offset += 16) {
    const window = buffer.subarray(offset, offset + size);
    try {
      probe(window.subarray(0, pageSize));
      return window;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
    }
  }
  throw new Error('no buffer alignment O_DIRECT accepts was found');
}
