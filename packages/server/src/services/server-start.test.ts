import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { freePortBlock } from '../testing/test-server.ts';

const testServer = new URL('../testing/test-server.ts', import.meta.url).pathname;

/**
 * Starts a server in a process of its own whose HTTPS port is taken; what it printed. The
 * gateway and the database are up by then, so only stopping them lets the process end.
 */
function startWithPortTaken(base: number): Promise<{ printed: string; exitCode: number | null }> {
  const code = `import { startTestServer } from ${JSON.stringify(testServer)};
    try {
      await startTestServer('taken-port', {}, { base: ${base} });
      console.log('started');
    } catch (err) {
      console.log('refused: ' + err.code);
    }`;
  return new Promise((resolve, reject) => {
    // A process still running after a minute is one the failed start kept alive.
    const child = execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { timeout: 60_000 }, (err, stdout) => {
      if (err && err.killed) reject(new Error('the process did not end after its server failed to start'));
      else resolve({ printed: stdout.trim(), exitCode: child.exitCode });
    });
  });
}

test('a server that cannot start (its HTTPS port is taken) stops what it started, and its process ends', async () => {
  const base = await freePortBlock();
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(base + 2, '127.0.0.1', resolve));
  try {
    const { printed, exitCode } = await startWithPortTaken(base);
    assert.equal(printed, 'refused: EADDRINUSE');
    assert.equal(exitCode, 0);
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
  // The gateway it had opened is closed: its port can be listened on again.
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(base + 1, '127.0.0.1', resolve);
  });
  await new Promise((resolve) => probe.close(resolve));
});
