import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { BenchmarkFigures } from '@p2pvps/protocol/benchmark';
import { measureAll } from './benchmark-runner.ts';
import { measureMemoryTouch } from './memory.ts';
import { TunnelBenchmarkSource } from './tunnel-source.ts';

test('the local benchmark measures CPU, memory and a directory’s disk, and leaves no file behind', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-bench-'));
  try {
    const figures = await measureAll({ memoryProbeBytes: 128 * 2 ** 20 }, { cores: () => 1, diskDir: () => dir, busy: () => false });
    assert.doesNotThrow(() => BenchmarkFigures.parse(figures), 'the figures fit the protocol the server parses');
    assert.equal(figures.coresTried, 1);
    assert.ok(figures.cpuOpsPerSecSingle > 0);
    assert.equal(figures.memoryTouchedBytes, 128 * 2 ** 20);
    assert.ok(figures.diskSeqWriteBytesPerSec > 0 && figures.diskRandomReadIops > 0);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a rental wanted before the benchmark starts stops it', async () => {
  await assert.rejects(measureAll({ memoryProbeBytes: 0 }, { cores: () => 1, diskDir: () => tmpdir(), busy: () => true }));
});

test('memory the probe cannot get is not counted: a child killed mid-way reports what it had touched', async () => {
  // A timeout stands in for the kernel's OOM kill: the probe is killed before it reaches 64 GiB.
  const touched = await measureMemoryTouch(64 * 2 ** 30, 300);
  assert.ok(touched < 64 * 2 ** 30, `touched ${touched}`);
  assert.equal(touched % (64 * 2 ** 20), 0, 'only whole pieces the probe said it wrote');
});

/** Both ends of an in-memory channel: what the source writes, and a way to write to it. */
function channel() {
  const received: Buffer[] = [];
  let push: (b: Buffer) => void = () => {};
  const d = new Duplex({
    read() {},
    write(chunk, _enc, cb) {
      received.push(chunk as Buffer);
      // Stop after a few chunks, as the server does when its window is over.
      if (received.length >= 4) d.destroy();
      cb();
    },
  });
  push = (b) => d.push(b);
  return { d, received, push };
}

test('the tunnel source sends only for the armed nonce', async () => {
  const source = new TunnelBenchmarkSource();
  const nonce = 'ab'.repeat(32);

  const unarmed = channel();
  source.serve(unarmed.d);
  unarmed.push(Buffer.from(`${nonce}\n`));
  await new Promise((r) => setImmediate(r));
  assert.equal(unarmed.d.destroyed, true);
  assert.equal(unarmed.received.length, 0);

  source.arm(nonce);
  const wrong = channel();
  source.serve(wrong.d);
  wrong.push(Buffer.from(`${'cd'.repeat(32)}\n`));
  await new Promise((r) => setImmediate(r));
  assert.equal(wrong.received.length, 0);

  const right = channel();
  source.serve(right.d);
  right.push(Buffer.from(`${nonce}\n`));
  await new Promise((r) => setImmediate(r));
  assert.ok(right.received.length >= 1, 'bytes flow for the armed nonce');
  source.disarm();
});
