/**
 * What a device on this machine reports against what it can give: runs the agent's own
 * benchmark (agent/src/benchmark) on the hardware the agent would claim here, and the
 * server's claim check on the result, as the server would (without the tunnel: the server
 * times that itself; see e2e/hardware-benchmark.test.ts, which also runs it in a cgroup).
 *
 *   node --import tsx bench/hardware.ts [DIR]
 *
 * DIR stands in for the renter storage (default: the system's temporary directory). The
 * memory probe touches at most 1 GiB, the server's default.
 */
import os from 'node:os';
import { measureAll } from '../packages/agent/src/benchmark/benchmark-runner.ts';
import { probeHardware } from '../packages/agent/src/hardware.ts';
import { checkClaims } from '../packages/server/src/domain/devices/hardware-claims.ts';

const dir = process.argv[2] ?? os.tmpdir();
const claimed = probeHardware(dir);
const memoryProbeBytes = Math.min(claimed.memoryBytes, 1024 * 2 ** 20);
const started = performance.now();
const figures = await measureAll({ memoryProbeBytes }, { cores: () => claimed.cores, diskDir: () => dir, busy: () => false });
figures.durationMs = Math.round(performance.now() - started);
const verdict = checkClaims(
  'this-machine',
  { ...claimed, bandwidthMbit: null },
  { figures, memoryProbeBytes, tunnelMbit: null },
  25,
  new Date().toISOString(),
);

const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
console.log(
  `claimed:  ${claimed.cores} cores (${claimed.cpuModel}), ${gib(claimed.memoryBytes)} memory, ${gib(claimed.diskBytes)} free in ${dir}`,
);
console.log(
  `measured: ${figures.coresScaling.toFixed(2)} cores scaling (${figures.cpuOpsPerSecSingle.toFixed(0)} SHA-256 64 KiB blocks/s on one, ` +
    `${figures.cpuOpsPerSecPerCore.toFixed(0)} per core on ${figures.coresTried}), ${gib(figures.memoryTouchedBytes)} of ${gib(memoryProbeBytes)} touched, ` +
    `memory copy ${(figures.memoryCopyBytesPerSec / 1e9).toFixed(2)} GB/s, disk (${figures.diskMethod}) write ${(figures.diskSeqWriteBytesPerSec / 1e6).toFixed(0)} MB/s, ` +
    `read ${(figures.diskSeqReadBytesPerSec / 1e6).toFixed(0)} MB/s, ${figures.diskRandomReadIops.toFixed(0)} random 4 KiB reads/s; ${figures.durationMs} ms in all`,
);
console.log(`verdict:  ${verdict.passed ? 'passed' : `flagged: ${verdict.reasons.join(' ')}`}`);
