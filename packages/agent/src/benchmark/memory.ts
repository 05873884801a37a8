import { spawn } from 'node:child_process';

/**
 * Memory the device can really give: a child process allocates `bytes` in 64 MiB pieces
 * and writes every page, saying how far it got after each piece. A memory limit lower than
 * the claim (a cgroup, a container) kills it or refuses the allocation; what it reported
 * last is what was really there. A child, so that the kill does not take the agent with it.
 */
const probeSource = `
// Under a memory limit the kernel kills the largest process: let that be this one, not the agent.
try { require('node:fs').writeFileSync('/proc/self/oom_score_adj', '1000'); } catch {}
const target = Number(process.argv[1]);
const chunk = 64 * 1024 * 1024;
const held = [];
let touched = 0;
while (touched < target) {
  const size = Math.min(chunk, target - touched);
  const b = Buffer.allocUnsafeSlow(size);
  b.fill(1);
  held.push(b);
  touched += size;
  process.stdout.write(touched + '\\n');
}
`;

export function measureMemoryTouch(bytes: number, timeoutMs = 20_000): Promise<number> {
  if (bytes <= 0) return Promise.resolve(0);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', probeSource, String(bytes)], { stdio: ['ignore', 'pipe', 'ignore'] });
    let touched = 0;
    let tail = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      const lines = (tail + text).split('\n');
      tail = lines.pop() ?? '';
      for (const line of lines) if (/^\d+$/.test(line)) touched = Number(line);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(touched);
    });
    child.on('error', () => resolve(touched));
  });
}

/** Memory bandwidth: copies between two 32 MiB buffers for `durationMs`; bytes copied per second. */
export function measureMemoryCopy(durationMs = 300): number {
  const size = 32 * 1024 * 1024;
  const a = Buffer.alloc(size, 1);
  const b = Buffer.alloc(size);
  // Once untimed: the first copy pays for faulting the pages in.
  a.copy(b);
  const start = performance.now();
  let copied = 0;
  while (performance.now() - start < durationMs) {
    a.copy(b);
    b.copy(a);
    copied += 2 * size;
  }
  return copied / ((performance.now() - start) / 1000);
}
