import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, tempDir } from '../test-harness.ts';

const user = { id: 'usr000001', email: 'ann@example.org', isAdmin: false, createdAt: '2025-01-01T00:00:00Z' };

test('login --password-stdin saves the server and token in a 0600 file in a 0700 directory', async () => {
  const home = await tempDir();
  const result = await runCli(
    ['--server', 'https://m.example.org/', 'login', '--email', 'ann@example.org', '--password-stdin'],
    {
      env: { HOME: home },
      stdin: 'long enough secret\nignored second line\n',
      routes: { 'POST /api/v1/auth/login': () => ({ token: 'tok_new', user }) },
    },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.requests[0]?.body, { email: 'ann@example.org', password: 'long enough secret' });
  const file = join(home, '.config', 'p2pvps', 'cli.json');
  assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { server: 'https://m.example.org', token: 'tok_new' });
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal((await stat(join(home, '.config', 'p2pvps'))).mode & 0o777, 0o700);
  assert.equal(
    result.stdout,
    `Logged in as ann@example.org on https://m.example.org.\nThe API token is saved in ${file}.\n`,
  );

  // The saved server and token are used next time, and only for that server.
  const whoami = await runCli(['whoami'], { env: { HOME: home }, routes: { 'GET /api/v1/me': () => user } });
  assert.equal(whoami.code, 0, whoami.stderr);
  assert.equal(whoami.requests[0]?.authorization, 'Bearer tok_new');
  assert.match(whoami.stdout, /^Email +ann@example.org$/m);
  const elsewhere = await runCli(['--server', 'https://other.example.org', 'whoami'], { env: { HOME: home } });
  assert.equal(elsewhere.code, 1);
  assert.equal(elsewhere.requests.length, 0);
});

test('login without a terminal and without --password-stdin is a usage error', async () => {
  const result = await runCli(['login', '--email', 'ann@example.org']);
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /^error \[usage\]: stdin is not a terminal; pass the password on stdin with --password-stdin\n/,
  );
});

test('logout revokes the token and forgets it but keeps the server', async () => {
  const home = await tempDir();
  const env = { HOME: home };
  await runCli(['login', '--email', 'ann@example.org', '--password-stdin'], {
    env,
    stdin: 'long enough secret\n',
    routes: { 'POST /api/v1/auth/login': () => ({ token: 'tok_1', user }) },
  });
  const result = await runCli(['logout'], { env, routes: { 'POST /api/v1/auth/logout': () => ({ ok: true }) } });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.requests[0]?.authorization, 'Bearer tok_1');
  assert.equal(result.stdout, 'Logged out of http://127.0.0.1:8080.\n');
  assert.deepEqual(JSON.parse(await readFile(join(home, '.config', 'p2pvps', 'cli.json'), 'utf8')), {
    server: 'http://127.0.0.1:8080',
  });
});

test('a broken config file is reported, not ignored', async () => {
  const file = join(await tempDir(), 'cli.json');
  await writeFile(file, '{"server": ');
  const result = await runCli(['--config', file, 'market']);
  assert.equal(result.code, 1);
  assert.equal(result.requests.length, 0);
  assert.equal(result.stderr, `error [config_invalid]: The config file ${file} is not valid JSON; fix or delete it.\n`);
});
