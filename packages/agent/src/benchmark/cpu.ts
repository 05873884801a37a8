import { Worker } from 'node:worker_threads';

/**
 * CPU work per core: a fixed SHA-256 workload (64 KiB blocks) on one worker alone, then on
 * `cores` workers at once. Cores that really exist keep the per-worker rate; cores a cgroup
 * or a VM does not give share one, and the total stops growing.
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

async function hashOnWorkers(workers: number, durationMs: number): Promise<number> {
  const started = Array.from({ length: workers }, () => new Worker(workerSource, { eval: true }));
  try {
    // Started together once all are up, so a slow thread start does not look like a slow core.
    await Promise.all(started.map((w) => new Promise((resolve, reject) => w.once('online', resolve).once('error', reject))));
    const results = await Promise.all(
      started.map(
        (w) =>
          new Promise<{ ops: number; ms: number }>((resolve, reject) => {
            w.once('message', resolve).once('error', reject);
            w.postMessage({ durationMs });
          }),
      ),
    );
    return results.reduce((sum, r) => sum + r.ops / (r.ms / 1000), 0);
  } finally {
    await Promise.all(started.map((w) => w.terminate()));
  }
}

export async function measureCpu(cores: number, durationMs = 500): Promise<CpuFigures> {
  const single = await hashOnWorkers(1, durationMs);
  const total = cores === 1 ? single : await hashOnWorkers(cores, durationMs);
  return {
    coresTried: cores,
    cpuOpsPerSecSingle: single,
    cpuOpsPerSecPerCore: total / cores,
    coresScaling: single > 0 ? Math.min(cores, total / single) : 0,
  };
}
