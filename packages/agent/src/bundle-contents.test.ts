import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The agent's idle memory on a Pi depends on what its bundle loads (docs/benchmarks.md,
// "Agent footprint"): the API's whole route table and schemas, or fetch's undici, cost
// megabytes each and came back once through a schema the agent shares with the server.
test('the built agent leaves out the API-wide schemas, routes and client, and undici', () => {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-bundle-'));
  try {
    const out = join(dir, 'agent.mjs');
    execFileSync(process.execPath, [new URL('../build.mjs', import.meta.url).pathname, out], { stdio: 'pipe' });
    const modules = new Set(readFileSync(out, 'utf8').match(/^\/\/ \S+\.(?:ts|js|mjs|cjs)$/gm) ?? []);
    assert.ok(modules.has('// packages/protocol/src/agent-schemas.ts'), 'the bundle names its modules');
    for (const heavy of ['schemas.ts', 'routes.ts', 'client.ts', 'federation-schemas.ts'])
      assert.ok(!modules.has(`// packages/protocol/src/${heavy}`), `protocol/src/${heavy} is in the agent's bundle`);
    assert.ok(![...modules].some((m) => m.includes('node_modules/undici')), 'undici is in the agent bundle');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
