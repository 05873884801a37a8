import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import Fastify from 'fastify';
import { installRoutes, withDefaultServer } from './install.ts';
import type { Authenticator } from './register.ts';

test('/install.sh is the installer with this server as its default, and bash parses it', async () => {
  const app = Fastify();
  installRoutes(app, 'https://market.example:8443/');
  const res = await app.inject({ method: 'GET', url: '/install.sh' });
  assert.equal(res.statusCode, 200);
  assert.match(res.headers['content-type'] as string, /^text\/x-shellscript/);
  assert.match(res.body, /^default_server='https:\/\/market\.example:8443'$/m);
  assert.match(res.body, /^#!\/usr\/bin\/env bash/);
  const parse = spawnSync('bash', ['-n'], { input: res.body, encoding: 'utf8' });
  assert.equal(parse.status, 0, parse.stderr);
  await app.close();
});

test('/agent.tar.gz holds the agent, the CLI and protocol in the repository layout, without the server or tests', async () => {
  const app = Fastify();
  installRoutes(app, 'http://127.0.0.1:8080');
  const res = await app.inject({ method: 'GET', url: '/agent.tar.gz' });
  assert.equal(res.statusCode, 200, res.body);
  const list = spawnSync('tar', ['-tz'], { input: res.rawPayload, encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  const files = list.stdout.split('\n');
  for (const f of [
    'package.json',
    'package-lock.json',
    'packages/agent/src/main.ts',
    // What the device runs: the agent built into one file, and its launcher.
    'packages/agent/dist/agent.mjs',
    'packages/agent/bin/p2pvps-agent',
    'packages/cli/bin/p2pvps',
    'images/renter/build-offline.sh',
  ]) {
    assert.ok(files.includes(`p2pvps-agent/${f}`), `${f} is in the tarball`);
  }
  assert.ok(!files.some((f) => f.startsWith('p2pvps-agent/packages/server')), 'no server code');
  assert.ok(!files.some((f) => f.endsWith('.test.ts')), 'no tests');
  const again = await app.inject({ method: 'GET', url: '/agent.tar.gz' });
  assert.deepEqual(again.rawPayload, res.rawPayload, 'packed once');
  await app.close();
});

test('a public URL that could break out of the shell string is refused', () => {
  assert.throws(() => withDefaultServer('default_server=""\n', "https://x.example/'; rm -rf /"), /cannot be written/);
});

test('GET /api/v1/agent/install gives the SHA-256 of the very tarball served, in the whole install command', async () => {
  const app = Fastify();
  // The route needs no caller: an authenticator that is never asked.
  const nobody = { user: () => assert.fail('not asked'), device: () => assert.fail('not asked') } as unknown as Authenticator;
  installRoutes(app, 'https://market.example.org/', nobody);
  const info = (await app.inject({ method: 'GET', url: '/api/v1/agent/install' })).json() as Record<string, string>;
  const tarball = await app.inject({ method: 'GET', url: '/agent.tar.gz' });
  const sha256 = createHash('sha256').update(tarball.rawPayload).digest('hex');
  assert.deepEqual(info, {
    sha256,
    installScriptUrl: 'https://market.example.org/install.sh',
    tarballUrl: 'https://market.example.org/agent.tar.gz',
    command: `curl -fsSL https://market.example.org/install.sh | sudo bash -s -- --sha256 ${sha256}`,
  });
  await app.close();
});
