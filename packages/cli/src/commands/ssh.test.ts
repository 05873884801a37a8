import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { access, chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createRental, runCli, tempDir } from '../test-harness.ts';
import { askpassScript, buildSshArgs } from './ssh.ts';

test('buildSshArgs: per-rental known_hosts, accept-new, and -- before the destination only', () => {
  const args = buildSshArgs({
    host: 'market.example.org',
    port: 2201,
    username: 'u_k3j9',
    knownHostsFile: '/home/ann/.config/p2pvps/known_hosts.d/rent000001',
    passwordByAskpass: true,
    command: ['uname', '-a'],
  });
  assert.deepEqual(args, [
    '-p',
    '2201',
    '-o',
    'UserKnownHostsFile=/home/ann/.config/p2pvps/known_hosts.d/rent000001',
    '-o',
    'StrictHostKeyChecking=accept-new',
    '-o',
    'NumberOfPasswordPrompts=1',
    '--',
    'u_k3j9@market.example.org',
    'uname',
    '-a',
  ]);
});

test('buildSshArgs: --identity, and a known_hosts path with spaces and % quoted for ssh', () => {
  const args = buildSshArgs({
    host: 'h',
    port: 22,
    username: 'u',
    knownHostsFile: '/home/a b/100%/rent000001',
    identity: '/home/a/.ssh/id_ed25519',
    passwordByAskpass: false,
    command: [],
  });
  assert.deepEqual(args, [
    '-p',
    '22',
    '-o',
    'UserKnownHostsFile="/home/a b/100%%/rent000001"',
    '-o',
    'StrictHostKeyChecking=accept-new',
    '-i',
    '/home/a/.ssh/id_ed25519',
    '-o',
    'IdentitiesOnly=yes',
    '--',
    'u@h',
  ]);
});

test("the askpass script answers ssh's password prompt and nothing else", async () => {
  const dir = await tempDir();
  const script = join(dir, 'askpass');
  await writeFile(script, askpassScript(`it's "$x" \`y\``), { mode: 0o700 });
  const password = spawnSync(script, ["u@h's password: "], { encoding: 'utf8' });
  assert.equal(password.status, 0);
  assert.equal(password.stdout, `it's "$x" \`y\`\n`);
  // A key passphrase prompt goes to the terminal; in a new session there is none, so it is refused.
  const passphrase = spawn(script, ["Enter passphrase for key '/k': "], {
    detached: true,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let stdout = '';
  passphrase.stdout.on('data', (chunk) => (stdout += chunk));
  const [status] = await once(passphrase, 'close');
  assert.equal(status, 1);
  assert.equal(stdout, '');
});

test('ssh runs OpenSSH with the password through askpass, never in argv, and passes its exit code', async () => {
  const dir = await tempDir();
  const fakeSsh = join(dir, 'fake-ssh');
  const out = join(dir, 'out');
  await writeFile(
    fakeSsh,
    `#!/bin/sh
printf '%s\\n' "$@" > '${out}.args'
printf '%s\\n' "$SSH_ASKPASS_REQUIRE" "$SSH_ASKPASS" "token=$P2PVPS_TOKEN" > '${out}.env'
"$SSH_ASKPASS" "u_k3j9@market.example.org's password: " > '${out}.password'
exit 7
`,
  );
  await chmod(fakeSsh, 0o755);
  const rental = createRental({ id: 'rent424242' });
  const config = join(dir, 'cfg', 'cli.json');
  const result = await runCli(['ssh', 'rent424242', '--', 'uname', '-a'], {
    env: { P2PVPS_TOKEN: 't', P2PVPS_SSH: fakeSsh, P2PVPS_CLI_CONFIG: config },
    routes: { 'GET /api/v1/rentals/:rentalId': () => rental },
  });
  assert.equal(result.code, 7, result.stderr);
  const args = (await readFile(`${out}.args`, 'utf8')).trimEnd().split('\n');
  assert.deepEqual(args, [
    '-p',
    '2201',
    '-o',
    `UserKnownHostsFile=${join(dir, 'cfg', 'known_hosts.d', 'rent424242')}`,
    '-o',
    'StrictHostKeyChecking=accept-new',
    '-o',
    'NumberOfPasswordPrompts=1',
    '--',
    'u_k3j9@market.example.org',
    'uname',
    '-a',
  ]);
  assert.ok(!args.some((a) => a.includes(rental.connection.password)));
  assert.equal(await readFile(`${out}.password`, 'utf8'), `${rental.connection.password}\n`);
  const [require, askpassPath = '', token] = (await readFile(`${out}.env`, 'utf8')).trimEnd().split('\n');
  assert.equal(require, 'force');
  assert.equal(token, 'token=', 'the API token is not passed on to ssh');
  await assert.rejects(access(askpassPath), 'the askpass script is deleted after ssh exits');
  assert.equal((await stat(join(dir, 'cfg', 'known_hosts.d'))).mode & 0o777, 0o700);
});

test('ssh refuses a rental that has ended', async () => {
  const result = await runCli(['ssh', 'rent000777'], {
    env: { P2PVPS_TOKEN: 't', P2PVPS_SSH: '/bin/false' },
    routes: {
      'GET /api/v1/rentals/:rentalId': () => createRental({ id: 'rent000777', state: 'ended', endReason: 'expired' }),
    },
  });
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    'error [rental_not_open]: Rental rent000777 has ended (expired); rent again to get a new container.\n',
  );
});

test('ssh rejects a rental ID that could escape the known_hosts directory', async () => {
  const result = await runCli(['ssh', '../../etc/passwd'], { env: { P2PVPS_TOKEN: 't' } });
  assert.equal(result.code, 2);
  assert.equal(result.requests.length, 0);
});
