import { Worker } from 'node:worker_threads';

/**
 * CPU work per core: a fixed SHA-256 workload (64 KiB blocks) on one worker alone, then on
 * `cores` workers at once. Cores that really exist keep the per-worker rate and each get a
 * CPU's worth of time; cores a cgroup or a VM does not give share one, the total stops
 * growing and the CPU time stays at what the quota allows.
 */
export interface CpuFigures {
  coresTried: number;
  cpuOpsPerSecSingle: number;
  cpuOpsPerSecPerCore: number;
  coresScaling: number;
}

// Plain JavaScript, so the worker needs no loader: it hashes until told time is up.
const workerSource = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const block = Buffer.alloc(65536, 7);
parentPort.once('message', ({ durationMs }) => {
  const start = performance.now();
  let ops = 0;
  while (performance.now() - start < durationMs) {
    for (let i = 0; i < 4; i++) createHash('sha256').update(block).digest();
    ops += 4;
  }
  parentPort.postMessage({ ops, ms: performance.now() - start });
});
`;

/** The hashing rate of `workers` threads at once, and how many CPUs the process really got meanwhile. */
async function hashOnWorkers(workers: number, durationMs: number): Promise<{ rate: number; cpus: number }> {
  const started = Array.from({ length: workers }, () => new Worker(workerSource, { eval: true }));
  try {
    // Started together once all are up, so a slow thread start does not look like a slow core.
    await Promise.all(started.map((w) => new Promise((resolve, reject) => w.once('online', resolve).once('error', reject))));
    // CPU time over wall time: what a quota (a cgroup, a container's --cpus) or a busy host leaves
    // us, whatever the rate of one core was a moment before.
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    const results = await Promise.all(
      started.map(
        (w) =>
          new Promise<{ ops: number; ms: number }>((resolve, reject) => {
            w.once('message', resolve).once('error', reject);
            w.postMessage({ durationMs });
          }),
      ),
    );
    const cpu = process.cpuUsage(cpuBefore);
    const cpus = (cpu.user + cpu.system) / 1000 / (performance.now() - wallBefore);
    return { rate: results.reduce((sum, r) => sum + r.ops / (r.ms / 1000), 0), cpus };
  } finally {
    await Promise.all(started.map((w) => w.terminate()));
  }
}

export async function measureCpu(cores: number, durationMs = 500): Promise<CpuFigures> {
  const single = await hashOnWorkers(1, durationMs);
  const all = cores === 1 ? single : await hashOnWorkers(cores, durationMs);
  // The lower of two views: how far the rate grew over one core's, and how much CPU time the
  // workers got. The first alone is fooled when the one-core run was slowed by other load.
  const byRate = single.rate > 0 ? all.rate / single.rate : 0;
  return {
    coresTried: cores,
    cpuOpsPerSecSingle: single.rate,
    cpuOpsPerSecPerCore: all.rate / cores,
    coresScaling: Math.min(cores, byRate, all.cpus),
  };
}
