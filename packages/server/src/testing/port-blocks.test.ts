import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

// Each test takes blocks through fresh processes with a lock directory of its own, as two test
// runs would, in 61000–64999 (above Linux's ephemeral ports, where no other test listens).
const here = new URL('./port-blocks.ts', import.meta.url).pathname;

function takeBlocks(lockDir: string, size: number, count: number, holdMs = 0): number[] {
  const code = `import { portBlock } from ${JSON.stringify(here)};
    const bases = Array.from({ length: ${count} }, () => portBlock(${size}));
    console.log(JSON.stringify(bases));
    setTimeout(() => {}, ${holdMs});`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    env: { ...process.env, P2PVPS_PORT_LOCK_DIR: lockDir, P2PVPS_PORT_RANGE: '61000-64999' },
    encoding: 'utf8',
  });
  return JSON.parse(out) as number[];
}

test('two test processes running side by side never get overlapping blocks', async () => {
  const lockDir = mkdtempSync(join(tmpdir(), 'p2pvps-port-locks-'));
  // 15 + 15 blocks of 100 out of 40: drawn at random without reservations, they would overlap.
  // Each holds its blocks until both have answered: they hold them at the same time.
  const code = (n: number) => `import { portBlock } from ${JSON.stringify(here)};
    const bases = Array.from({ length: ${n} }, () => portBlock(100));
    console.log(JSON.stringify(bases));
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));`;
  const { spawn } = await import('node:child_process');
  const children: ChildProcess[] = [];
  const run = (n: number) =>
    new Promise<number[]>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code(n)], {
        env: { ...process.env, P2PVPS_PORT_LOCK_DIR: lockDir, P2PVPS_PORT_RANGE: '61000-64999' },
      });
      children.push(child);
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        if (out.endsWith('\n')) resolve(JSON.parse(out) as number[]);
      });
      child.on('error', reject);
      child.on('exit', (status) => reject(new Error(`exit ${status} before answering`)));
    });
  const exited = () =>
    Promise.all(children.map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve(0) : c.once('exit', resolve)))));
  let a: number[];
  let b: number[];
  try {
    [a, b] = await Promise.all([run(15), run(15)]);
  } finally {
    for (const child of children) child.stdin?.end();
    await exited();
  }
  const ports = new Set<number>();
  for (const base of [...a, ...b])
    for (let p = base; p < base + 100; p++) {
      assert.ok(!ports.has(p), `port ${p} was given twice: ${JSON.stringify([a, b])}`);
      ports.add(p);
    }
  // Once both have exited, their reservations are gone: all 40 blocks can be had again.
  assert.equal(takeBlocks(lockDir, 100, 40).length, 40);
});

test('a block with a port some socket already listens on is never given', async () => {
  const lockDir = mkdtempSync(join(tmpdir(), 'p2pvps-port-locks-'));
  // Blocks of 2000 leave two choices, 61000 and 63000; a listener in the first leaves one.
  const listener: Server = createServer();
  await new Promise<void>((resolve) => listener.listen(61_003, '127.0.0.1', resolve));
  try {
    for (let i = 0; i < 5; i++) assert.deepEqual(takeBlocks(lockDir, 2000, 1), [63_000]);
  } finally {
    await new Promise((resolve) => listener.close(resolve));
  }
});

test('a reservation left by a process that died is taken over', () => {
  const lockDir = mkdtempSync(join(tmpdir(), 'p2pvps-port-locks-'));
  // One block of 4000 is all there is: the first process holds it until it exits (its
  // exit handler is skipped by a kill, so its lock files stay), then the next takes it.
  const code = `import { portBlock } from ${JSON.stringify(here)};
    portBlock(4000);
    process.kill(process.pid, 'SIGKILL');`;
  try {
    execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      env: { ...process.env, P2PVPS_PORT_LOCK_DIR: lockDir, P2PVPS_PORT_RANGE: '61000-64999' },
      stdio: 'ignore',
    });
  } catch {
    // Killed, as intended.
  }
  assert.deepEqual(takeBlocks(lockDir, 4000, 1), [61_000]);
});
