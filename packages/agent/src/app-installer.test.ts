import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppRecipe } from '@p2pvps/protocol/app-packages';
import { AppInstaller, fillSettings, healthScript, installScript } from './app-installer.ts';

const recipe = (over: object = {}) =>
  AppRecipe.parse({
    name: 'demo',
    description: 'A demo.',
    debianPackages: ['nginx-light'],
    settings: { TITLE: { default: 'x', description: 'The title.' } },
    files: [{ path: '/srv/${TITLE}.html', content: '<h1>${TITLE}</h1> $uri ${lower} ${UNKNOWN}' }],
    start: 'sleep 1',
    ports: [{ kind: 'http', port: 80 }],
    health: { http: { port: 80, path: '/' } },
    ...over,
  });

test('settings fill ${NAME} in files; other dollar signs are left alone', () => {
  assert.equal(fillSettings('<h1>${TITLE}</h1> $uri ${lower} ${UNKNOWN}', { TITLE: "It's" }), "<h1>It's</h1> $uri ${lower} ${UNKNOWN}");
});

test('the install script writes the files with the settings, whatever quotes they hold', () => {
  // Run only the part that writes files, into a scratch root, with bash as the container would.
  const root = mkdtempSync(join(tmpdir(), 'app-'));
  const r = recipe({ files: [{ path: `${root}/\${TITLE}.html`, content: '<h1>${TITLE}</h1> $uri\n', mode: '0600' }] });
  const script = installScript(r, { TITLE: "a'b" })
    .split('\n')
    .filter((l) => l.startsWith('mkdir -p'))
    .join('\n');
  execFileSync('bash', ['-c', script]);
  assert.equal(readFileSync(join(root, "a'b.html"), 'utf8'), "<h1>a'b</h1> $uri\n");
});

test('the install takes packages from the offline source only, with no service started meanwhile', () => {
  const s = installScript(recipe(), { TITLE: 'x' });
  assert.match(s, /policy-rc\.d/);
  assert.match(
    s,
    /apt-get update -q -o Dir::Etc::SourceList=\/etc\/apt\/sources\.list\.d\/p2pvps-offline\.list -o Dir::Etc::SourceParts=-/,
  );
  assert.match(s, /apt-get install -q -y --no-install-recommends nginx-light/);
});

test('each kind of health check', () => {
  assert.match(healthScript(recipe()), /curl -fsS .* http:\/\/127\.0\.0\.1:80\/$/);
  assert.match(healthScript(recipe({ health: { tcp: { port: 9050 } } })), /\/dev\/tcp\/127\.0\.0\.1\/9050/);
  assert.match(healthScript(recipe({ health: { command: "test -e '/x'" } })), /timeout 30 bash -c 'test -e '\\''\/x'\\'''/);
});

test('a failing install is reported failed with the log; a passing one goes installing → starting → healthy', async () => {
  const run = async (installCode: number) => {
    const states: string[] = [];
    let installer: AppInstaller;
    const done = new Promise<void>((resolve) => {
      installer = new AppInstaller({
        exec: async (_id, script) => {
          if (script.includes('apt-get install')) return { code: installCode, output: '' };
          if (script.startsWith('tail')) return { code: 0, output: 'the log\n' };
          return { code: 0, output: '' };
        },
        changed: () => {
          const s = installer.progress('r1', { recipe: recipe(), settings: {} }).state;
          if (states.at(-1) !== s) states.push(s);
          if (s === 'healthy' || s === 'failed') resolve();
        },
        log: () => undefined,
        sleep: async () => undefined,
      });
    });
    installer!.progress('r1', { recipe: recipe(), settings: {} });
    await done;
    return { states, last: installer!.progress('r1', { recipe: recipe(), settings: {} }) };
  };
  const bad = await run(100);
  assert.deepEqual(bad.states, ['installing', 'failed']);
  assert.equal(bad.last.log, 'the log\n');
  const good = await run(0);
  assert.deepEqual(good.states, ['installing', 'starting', 'healthy']);
});
