import type { BenchmarkChallenge, BenchmarkFigures, BenchmarkResultBody } from '@p2pvps/protocol/benchmark';
import { benchmarkSigningText } from '@p2pvps/protocol/benchmark-signing';
import type { HardwareVerification } from '@p2pvps/protocol/benchmark';
import { measureCpu } from './cpu.ts';
import { measureDisk } from './disk.ts';
import { measureMemoryCopy, measureMemoryTouch } from './memory.ts';
import type { TunnelBenchmarkSource } from './tunnel-source.ts';

export interface BenchmarkRunnerOptions {
  deviceId: string;
  /** Signs with the device key. */
  sign: (data: Buffer) => Buffer;
  /** The cores the device claims: that many workers are tried at once. */
  cores: () => number;
  /** Where the renter storage is mounted (or the data dir, before it is). */
  diskDir: () => string;
  /** True once a rental is wanted: the benchmark stops between its steps and posts nothing. */
  busy: () => boolean;
  post: (body: BenchmarkResultBody) => Promise<HardwareVerification>;
  source?: TunnelBenchmarkSource;
  log: (level: 'error' | 'warn' | 'info' | 'debug', msg: string) => void;
}

class Interrupted extends Error {}

/**
 * Answers the server's benchmark challenges, one at a time and in the background, so a
 * heartbeat or a rental never waits for it. A few seconds in all: CPU, memory, the renter
 * storage, then the signed figures are posted while the tunnel source is armed for the
 * server's own throughput measurement.
 */
export class BenchmarkRunner {
  private running: Promise<void> | undefined;
  private answered = new Set<string>();

  constructor(private readonly o: BenchmarkRunnerOptions) {}

  /** Starts answering `challenge` unless one is running or it was answered. */
  start(challenge: BenchmarkChallenge): void {
    if (this.running || this.answered.has(challenge.nonce)) return;
    this.running = this.run(challenge)
      .catch((err: Error) => {
        if (err instanceof Interrupted) this.o.log('info', 'benchmark stopped: a rental came first');
        else this.o.log('warn', `benchmark failed: ${err.message}`);
      })
      .finally(() => (this.running = undefined));
  }

  /** Resolves when the current run (if any) is over. */
  async idle(): Promise<void> {
    await this.running;
  }

  private async run(challenge: BenchmarkChallenge): Promise<void> {
    this.answered.add(challenge.nonce);
    const started = performance.now();
    const figures = await measureAll(challenge, this.o);
    figures.durationMs = Math.round(performance.now() - started);
    const signature = this.o.sign(Buffer.from(benchmarkSigningText(this.o.deviceId, challenge.nonce, figures))).toString('base64url');
    this.check();
    this.o.source?.arm(challenge.nonce);
    try {
      const verdict = await this.o.post({ nonce: challenge.nonce, figures, signature });
      this.o.log(
        verdict.passed ? 'info' : 'warn',
        verdict.passed ? 'benchmark passed: the hardware is as claimed' : `benchmark failed: ${verdict.reasons.join(' ')}`,
      );
    } finally {
      this.o.source?.disarm();
    }
  }

  private check(): void {
    if (this.o.busy()) throw new Interrupted();
  }
}

/** Every local measurement, stopping between steps when a rental is wanted. */
export async function measureAll(
  challenge: Pick<BenchmarkChallenge, 'memoryProbeBytes'>,
  o: Pick<BenchmarkRunnerOptions, 'cores' | 'diskDir' | 'busy'>,
): Promise<BenchmarkFigures> {
  const check = () => {
    if (o.busy()) throw new Interrupted();
  };
  check();
  const cpu = await measureCpu(o.cores());
  check();
  const memoryTouchedBytes = await measureMemoryTouch(challenge.memoryProbeBytes);
  const memoryCopyBytesPerSec = measureMemoryCopy();
  check();
  const disk = measureDisk(o.diskDir());
  return { ...cpu, memoryTouchedBytes, memoryCopyBytesPerSec, ...disk, durationMs: 0 };
}
