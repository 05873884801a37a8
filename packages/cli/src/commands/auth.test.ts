import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createUser, PASSWORD, runCli, tempDir, testServer } from '../test-harness.ts';

test('signup --password-stdin creates the account and saves the token in a 0600 file in a 0700 directory', async () => {
  const { url } = await testServer();
  const home = await tempDir();
  const env = { HOME: home, P2PVPS_SERVER: undefined };
  const result = await runCli(['--server', `${url}/`, 'signup', '--email', 'Ann@Example.org', '--password-stdin'], {
    env,
    stdin: 'long enough secret\nignored second line\n',
  });
  assert.equal(result.code, 0, result.stderr);
  const file = join(home, '.config', 'p2pvps', 'cli.json');
  assert.equal(result.stdout, `Signed up as ann@example.org on ${url}.\nThe API token is saved in ${file}.\n`);
  const saved = JSON.parse(await readFile(file, 'utf8'));
  assert.deepEqual(Object.keys(saved), ['server', 'token']);
  assert.equal(saved.server, url, 'saved without the trailing slash');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal((await stat(join(home, '.config', 'p2pvps'))).mode & 0o777, 0o700);

  // The saved server and token are used next time...
  const whoami = await runCli(['whoami'], { env });
  assert.equal(whoami.code, 0, whoami.stderr);
  assert.match(whoami.stdout, /^Email +ann@example.org$/m);
  assert.match(whoami.stdout, new RegExp(`^Server +${url}$`, 'm'));
  assert.match(whoami.stdout, /^Since +2026-03-02 12:00:00 UTC \(just now\)$/m);
  // ...and the password was the first line of stdin only.
  const login = await runCli(['login', '--email', 'ann@example.org', '--password-stdin'], {
    env: { HOME: await tempDir() },
    stdin: 'long enough secret',
  });
  assert.equal(login.code, 0, login.stderr);
});

test('the saved token is only sent to the server it came from', async () => {
  const { unusedPort } = await testServer();
  const user = await createUser();
  const home = await tempDir();
  const login = await runCli(['login', '--email', user.email, '--password-stdin'], {
    env: { HOME: home },
    stdin: `${user.password}\n`,
  });
  assert.equal(login.code, 0, login.stderr);
  // Were the token sent, the user would see server_unreachable: nothing listens there.
  const elsewhere = `http://127.0.0.1:${unusedPort}`;
  const result = await runCli(['--server', elsewhere, 'whoami'], { env: { HOME: home } });
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    `error [unauthenticated]: You are not logged in to ${elsewhere}; run 'p2pvps login' (or set P2PVPS_TOKEN).\n`,
  );
});

test('login with a wrong password shows the server error and saves nothing', async () => {
  const user = await createUser();
  const home = await tempDir();
  const result = await runCli(['login', '--email', user.email, '--password-stdin'], {
    env: { HOME: home },
    stdin: 'not the password\n',
  });
  assert.equal(result.code, 1);
  assert.equal(result.stderr, 'error [invalid_credentials]: The email or password is wrong.\n');
  await assert.rejects(stat(join(home, '.config', 'p2pvps', 'cli.json')), { code: 'ENOENT' });
});

test('signup shows every field problem the server finds', async () => {
  const result = await runCli(['signup', '--email', 'not-an-email', '--password-stdin'], { stdin: 'short\n' });
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    [
      'error [invalid_request]: The request is not valid; see "fields" for what to fix.',
      '  body.email: must be an email address like you@example.org',
      '  body.password: must be at least 10 characters',
      '',
    ].join('\n'),
  );
});

test('login without a terminal and without --password-stdin is a usage error', async () => {
  const result = await runCli(['login', '--email', 'ann@example.org'], { offline: true });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^error \[usage\]: stdin is not a terminal; pass the password on stdin with --password-stdin\n/);
});

test('logout revokes the token on the server and forgets it but keeps the server', async () => {
  const { url } = await testServer();
  const user = await createUser();
  const home = await tempDir();
  const env = { HOME: home };
  const file = join(home, '.config', 'p2pvps', 'cli.json');
  await runCli(['login', '--email', user.email, '--password-stdin'], { env, stdin: `${PASSWORD}\n` });
  const { token } = JSON.parse(await readFile(file, 'utf8'));
  assert.ok(token);

  const result = await runCli(['logout'], { env });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, `Logged out of ${url}.\n`);
  assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { server: url });

  const revoked = await runCli(['whoami'], { env: { HOME: home, P2PVPS_TOKEN: token } });
  assert.equal(revoked.code, 1);
  assert.equal(revoked.stderr, 'error [unauthenticated]: Log in first: this request needs a valid API token.\n');
  const again = await runCli(['logout'], { env: { HOME: home, P2PVPS_TOKEN: token } });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, `The token was no longer valid on ${url}; it is forgotten.\n`);
});

test('a broken config file is reported, not ignored', async () => {
  const file = join(await tempDir(), 'cli.json');
  await writeFile(file, '{"server": ');
  const result = await runCli(['--config', file, 'market'], { offline: true });
  assert.equal(result.code, 1);
  assert.equal(result.stderr, `error [config_invalid]: The config file ${file} is not valid JSON; fix or delete it.\n`);
});

test('a plain http server on another machine is refused before anything is sent, unless --insecure-http says so', async () => {
  const { unusedPort } = await testServer();
  const home = await tempDir();
  // 0.0.0.0 is not loopback, yet a connection to it stays on this machine (should the check ever be missing).
  const refused = await runCli(['--server', `http://0.0.0.0:${unusedPort}`, 'login', '--email', 'a@example.org', '--password-stdin'], {
    env: { HOME: home },
    stdin: 'long enough secret\n',
  });
  assert.equal(refused.code, 2);
  assert.equal(
    refused.stderr,
    `error [insecure_server]: http://0.0.0.0:${unusedPort} is plain http to another machine: passwords, tokens and renters' credentials would cross the network unencrypted. ` +
      "Use the server's https:// URL, or pass --insecure-http (or P2PVPS_INSECURE_HTTP=1) if this network is yours alone (a lab).\n",
  );
  // Loopback needs no flag (nothing listens there, so the request fails further on).
  const loopback = await runCli(['--server', `http://localhost:${unusedPort}`, 'market'], { env: { HOME: home } });
  assert.match(loopback.stderr, /^error \[server_unreachable\]/);
  // The flag (or the variable) lets the command through: here to a usage check that stops before any request.
  const price = ['devices', 'price', 'kitchen-pi', '0.0000001'];
  for (const [args, env] of [
    [['--server', `http://0.0.0.0:${unusedPort}`, '--insecure-http', ...price], { HOME: home, P2PVPS_TOKEN: 'any' }],
    [['--server', `http://0.0.0.0:${unusedPort}`, ...price], { HOME: home, P2PVPS_TOKEN: 'any', P2PVPS_INSECURE_HTTP: '1' }],
  ] as const) {
    const allowed = await runCli([...args], { env });
    assert.equal(allowed.code, 2);
    assert.match(allowed.stderr, /^error \[usage\]: PRICE "0.0000001" has more than 6 decimals/);
  }
});
