import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A stray promise rejection anywhere in the server process (API, gateway and doors share
 * it) is logged and ends the process with a non-zero code, so systemd restarts it.
 */
test('a stray rejection in the running server is logged and the process exits non-zero', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'p2pvps-crash-'));
  try {
    const script = `
      const { runServer } = await import(${JSON.stringify(new URL('./main.ts', import.meta.url).href)});
      await runServer([], {
        P2PVPS_DATA_DIR: ${JSON.stringify(dataDir)},
        P2PVPS_HTTP_PORT: '0', P2PVPS_HTTPS_PORT: '0', P2PVPS_GATEWAY_PORT: '0',
        P2PVPS_LOG_LEVEL: 'silent',
      });
      console.error('server started');
      Promise.reject(new Error('stray failure in some handler'));
    `;
    const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.match(res.stderr, /server started/);
    assert.match(res.stderr, /unhandled promise rejection, exiting so that the service manager restarts the server/);
    assert.match(res.stderr, /stray failure in some handler/);
    assert.equal(res.status, 70);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
