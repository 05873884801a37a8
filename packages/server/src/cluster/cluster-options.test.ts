import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OptionsError } from '@p2pvps/protocol/options';
import { loadServerConfig } from '../config.ts';

const dir = mkdtempSync(join(tmpdir(), 'p2pvps-cluster-options-'));

test('a single node by default, named after its host with a random suffix new at each start', () => {
  const one = loadServerConfig([], {});
  assert.equal(one.nodeLinkListen, undefined);
  assert.match(one.nodeId, /^[A-Za-z0-9.-]+-[0-9a-f]{8}$/);
  assert.notEqual(loadServerConfig([], {}).nodeId, one.nodeId);
});

test('a node link needs a cluster secret of 32 characters or more, and an address other nodes can dial', () => {
  const short = join(dir, 'short');
  writeFileSync(short, 'too short\n', { mode: 0o600 });
  assert.throws(
    () => loadServerConfig(['--node-link-listen', '0.0.0.0:7400'], {}),
    (err: unknown) => err instanceof OptionsError && err.problems.some((p) => /needs --cluster-secret-file/.test(p)),
  );
  assert.throws(
    () => loadServerConfig(['--node-link-listen', '0.0.0.0:7400', '--cluster-secret-file', short], {}),
    (err: unknown) =>
      err instanceof OptionsError &&
      err.problems.some((p) => /at least 32 characters/.test(p)) &&
      err.problems.some((p) => /--node-link-advertise: other nodes cannot dial a wildcard/.test(p)),
  );
  const good = join(dir, 'good');
  writeFileSync(good, `${'f'.repeat(64)}\n`, { mode: 0o600 });
  const c = loadServerConfig(
    ['--node-link-listen', '0.0.0.0:7400', '--node-link-advertise', '[fd00::5]:7400', '--cluster-secret-file', good, '--node-id', 'east-1'],
    {},
  );
  assert.deepEqual(c.nodeLinkListen, { host: '0.0.0.0', port: 7400 });
  assert.deepEqual(c.nodeLinkAdvertise, { host: 'fd00::5', port: 7400 });
  assert.equal(c.clusterSecretFile, 'f'.repeat(64));
  assert.equal(c.nodeId, 'east-1');
  // Advertised where it listens unless said otherwise.
  assert.deepEqual(loadServerConfig(['--node-link-listen', '127.0.0.2:7400', '--cluster-secret-file', good], {}).nodeLinkAdvertise, {
    host: '127.0.0.2',
    port: 7400,
  });
});
