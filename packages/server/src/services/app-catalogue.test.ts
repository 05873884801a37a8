import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppRecipeError, defaultAppPackagesDir, loadAppCatalogue, parseAppRecipe } from './app-catalogue.ts';

const offlineList = readFileSync(new URL('../../../../images/renter/offline-packages.txt', import.meta.url), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

test('every recipe in the catalogue loads, and its Debian packages are in the offline repository', () => {
  const { recipes } = loadAppCatalogue(defaultAppPackagesDir);
  assert.deepEqual([...recipes.keys()].sort(), ['git-server', 'static-site', 'tor-onion', 'wiki', 'wireguard']);
  for (const r of recipes.values()) {
    for (const p of r.debianPackages) assert.ok(offlineList.includes(p), `${r.name}: ${p} is not in images/renter/offline-packages.txt`);
  }
});

const good = JSON.parse(readFileSync(join(defaultAppPackagesDir, 'git-server.json'), 'utf8'));
const problemsOf = (file: string, value: unknown): string[] => {
  try {
    parseAppRecipe(file, typeof value === 'string' ? value : JSON.stringify(value));
  } catch (err) {
    assert.ok(err instanceof AppRecipeError);
    assert.match(err.message, new RegExp(`^${file.replace(/[.]/g, '\\.')}: `), 'the error names the file');
    return err.problems;
  }
  assert.fail('the recipe was accepted');
};

test('a bad recipe is refused with the file and each field named', () => {
  assert.deepEqual(problemsOf('/x/git-server.json', '{ not json'), [problemsOf('/x/git-server.json', '{ not json')[0]]);
  assert.match(problemsOf('/x/git-server.json', '{ not json')[0]!, /^not JSON/);
  assert.deepEqual(problemsOf('/x/other.json', good), ['name: is "git-server" but the file is named other.json']);
  const noStart = { ...good, start: undefined };
  assert.ok(problemsOf('/x/git-server.json', noStart).some((p) => p.startsWith('start: ')));
  const badSetting = { ...good, settings: { lower: { default: 'x', description: 'y' } } };
  assert.ok(
    problemsOf('/x/git-server.json', badSetting).some((p) => p.startsWith('settings.lower')),
    'setting names are upper case',
  );
  const twoChecks = { ...good, health: { tcp: { port: 1 }, command: 'true' } };
  assert.ok(problemsOf('/x/git-server.json', twoChecks).some((p) => /health: give exactly one/.test(p)));
  const badPort = { ...good, ports: [{ kind: 'http', port: 8080 }] };
  assert.ok(problemsOf('/x/git-server.json', badPort).some((p) => p.startsWith('ports.0')));
  const extra = { ...good, postInstall: 'rm -rf /' };
  assert.ok(
    problemsOf('/x/git-server.json', extra).some((p) => /postInstall/.test(p)),
    'unknown fields are refused',
  );
});

test('a catalogue with one bad file does not load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'apps-'));
  writeFileSync(join(dir, 'git-server.json'), JSON.stringify(good));
  writeFileSync(join(dir, 'broken.json'), JSON.stringify({ ...good, name: 'broken', debianPackages: [] }));
  assert.throws(() => loadAppCatalogue(dir), /broken\.json: debianPackages: /);
});
