import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The agent's idle memory on a Pi depends on what its bundle loads (docs/benchmarks.md,
// "Agent footprint"): the API's whole route table and schemas, or fetch's undici, cost
// megabytes each and came back once through a schema the agent shares with the server;
// zod's locales and a comment's dash cost about 4 MiB together.
test("the built agent leaves out the API-wide schemas, routes and client, undici and zod's unused parts, in ASCII", () => {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-bundle-'));
  try {
    const out = join(dir, 'agent.mjs');
    execFileSync(process.execPath, [new URL('../build.mjs', import.meta.url).pathname, out], { stdio: 'pipe' });
    const source = readFileSync(out, 'utf8');
    // V8 holds a source with any character beyond Latin-1 at two bytes a character, as long as the agent runs.
    assert.equal(source.match(/[^\x00-\x7f]/)?.[0], undefined, 'the bundle is not ASCII-only');
    const modules = new Set(source.match(/^\/\/ \S+\.(?:ts|js|mjs|cjs)$/gm) ?? []);
    assert.ok(modules.has('// packages/protocol/src/agent-schemas.ts'), 'the bundle names its modules');
    for (const heavy of ['schemas.ts', 'routes.ts', 'client.ts', 'federation-schemas.ts'])
      assert.ok(!modules.has(`// packages/protocol/src/${heavy}`), `protocol/src/${heavy} is in the agent's bundle`);
    assert.ok(![...modules].some((m) => m.includes('node_modules/undici')), 'undici is in the agent bundle');
    // Zod's other languages, z.fromJSONSchema and z.compile: a third of the bundle, never used by the agent.
    assert.ok(modules.has('// node_modules/zod/v4/classic/schemas.js'), "zod's classic API is in the bundle");
    const zodUnused = [...modules].filter((m) => /zod\/v4\/(locales\/(?!en\.js)|classic\/from-json-schema|core\/compile)/.test(m));
    assert.deepEqual(zodUnused, [], "zod's unused parts are in the agent bundle");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
