import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createListedDevice, createRenter, createRental, reportContainer, runCli, tempDir } from '../test-harness.ts';
import { knownHostsFile } from '../config.ts';
import { askpassScript, buildSshArgs, loginPlan, remoteCommand, sshEnvironment } from './ssh.ts';

/**
 * How `p2pvps ssh` builds OpenSSH's command line and environment. That it logs in for
 * real, with the password through askpass and no terminal, is proven end to end in
 * e2e/cli.test.ts against a real container.
 */

test('buildSshArgs: per-rental known_hosts, accept-new, password only, and -- before the destination', () => {
  const args = buildSshArgs({
    host: 'market.example.org',
    port: 2201,
    username: 'u_k3j9',
    knownHostsFile: '/home/ann/.config/p2pvps/known_hosts.d/rent000001',
    passwordByAskpass: true,
    passwordOnly: true,
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
    'PreferredAuthentications=password,keyboard-interactive',
    '-o',
    'NumberOfPasswordPrompts=1',
    '--',
    'u_k3j9@market.example.org',
    'uname -a',
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
    passwordOnly: false,
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

test('remoteCommand keeps several words apart for the remote shell; one word is a command line', () => {
  assert.equal(remoteCommand([]), undefined);
  assert.equal(remoteCommand(['ls | wc -l']), 'ls | wc -l');
  assert.equal(remoteCommand(['sh', '-c', 'exit 7']), "sh -c 'exit 7'");
  assert.equal(remoteCommand(['echo', "it's", '$HOME', '']), `echo 'it'\\''s' '$HOME' ''`);
  // What the container's shell makes of it: the words as given.
  const words = ['printf', '%s|', "it's", '$HOME', 'a  b', ''];
  const shell = spawnSync('sh', ['-c', remoteCommand(words)!], { encoding: 'utf8' });
  assert.equal(shell.stdout, "it's|$HOME|a  b||");
});

test('loginPlan: without a key on the rental, the password at once; with one, keys first and the password as fallback', () => {
  const rental = (sshKeyGiven: boolean) => ({ id: 'rent000001', connection: { password: 'pw', sshKeyGiven } });
  assert.deepEqual(loginPlan(rental(false), undefined), { password: 'pw', passwordOnly: true });
  assert.deepEqual(loginPlan(rental(false), '/k'), {
    password: 'pw',
    passwordOnly: true,
    note: 'Rental rent000001 was rented without an SSH key, so /k cannot log in; using its password.',
  });
  assert.deepEqual(loginPlan(rental(true), '/k'), { identity: '/k', password: 'pw', passwordOnly: false });
  assert.deepEqual(loginPlan(rental(true), undefined), { password: 'pw', passwordOnly: false });
});

test('sshEnvironment drops the API token and adds askpass only when it has a password to give', () => {
  const env = { PATH: '/bin', P2PVPS_TOKEN: 'secret', HOME: '/h' };
  assert.deepEqual(sshEnvironment(env, '/tmp/x/askpass'), {
    PATH: '/bin',
    HOME: '/h',
    SSH_ASKPASS: '/tmp/x/askpass',
    SSH_ASKPASS_REQUIRE: 'force',
  });
  assert.deepEqual(sshEnvironment(env, undefined), { PATH: '/bin', HOME: '/h' });
});

test("the askpass script answers ssh's password prompt and nothing else", async () => {
  const dir = await tempDir();
  const script = join(dir, 'askpass');
  await writeFile(script, askpassScript(`it's "$x" \`y\``), { mode: 0o700 });
  // A new session has no terminal: the password is still answered.
  const password = spawn(script, ["u@h's password: "], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  let answer = '';
  password.stdout.on('data', (chunk) => (answer += chunk));
  assert.equal((await once(password, 'close'))[0], 0);
  assert.equal(answer, `it's "$x" \`y\`\n`);
  // A key passphrase prompt goes to the terminal; without one, it is refused.
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

test('ssh refuses a rental that has ended', async () => {
  const device = await createListedDevice();
  const renter = await createRenter();
  const rental = await createRental({ renter, device });
  await reportContainer(device, { rentalId: rental.id, state: 'ready' });
  await renter.api.call('stopRental', { params: { rentalId: rental.id } });
  await reportContainer(device, null);
  const result = await runCli(['ssh', rental.id], { env: { ...renter.env, P2PVPS_SSH: '/bin/false' } });
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    `error [rental_not_open]: Rental ${rental.id} has ended (renter_stopped); rent again to get a new container.\n`,
  );
});

test('ssh waits for a container that is still starting, then gives up with a clear message', async () => {
  const device = await createListedDevice({ name: 'slow-pi' });
  const renter = await createRenter();
  const rental = await createRental({ renter, device });
  const result = await runCli(['ssh', rental.id], { env: { ...renter.env, P2PVPS_SSH: '/bin/false' } });
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    'Waiting for slow-pi to start your container… 0s\n' +
      `error [wait_timeout]: Rental ${rental.id} is still starting after 300s. It stays open: check it with 'p2pvps rentals' or stop it with 'p2pvps stop ${rental.id}'.\n`,
  );
});

test("ssh of someone else's rental is not found", async () => {
  const device = await createListedDevice();
  const rental = await createRental({ renter: await createRenter(), device });
  const result = await runCli(['ssh', rental.id], { env: { ...(await createRenter()).env, P2PVPS_SSH: '/bin/false' } });
  assert.equal(result.code, 1);
  assert.equal(result.stderr, 'error [not_found]: There is nothing here, or you may not see it.\n');
});

test('the known_hosts file is refused a rental ID that could escape its directory', () => {
  assert.throws(() => knownHostsFile('/home/ann/.config/p2pvps/cli.json', '../../etc/passwd'), {
    name: 'UsageError',
    message: '"../../etc/passwd" is not a rental ID',
  });
});

/** A stand-in for OpenSSH that writes the arguments it was given to a file, one a line. */
async function recordingSsh(): Promise<{ program: string; args: () => Promise<string[]> }> {
  const dir = await tempDir();
  const program = join(dir, 'ssh');
  await writeFile(program, `#!/bin/sh\nprintf '%s\\n' "$@" > '${dir}/args'\n`, { mode: 0o700 });
  return { program, args: async () => (await readFile(join(dir, 'args'), 'utf8')).split('\n').slice(0, -1) };
}

test("ssh DEVICE connects to the renter's one open rental on the device with that name or ID", async () => {
  const device = await createListedDevice({ name: 'garage-pi' });
  const renter = await createRenter();
  const rental = await createRental({ renter, device });
  await reportContainer(device, { rentalId: rental.id, state: 'ready' });
  const config = join(await tempDir(), 'cli.json');
  for (const name of ['garage-pi', device.id]) {
    const ssh = await recordingSsh();
    const result = await runCli(['ssh', name, '--', 'true'], {
      env: { ...renter.env, P2PVPS_CLI_CONFIG: config, P2PVPS_SSH: ssh.program },
    });
    assert.equal(result.code, 0, result.stderr);
    const args = await ssh.args();
    assert.deepEqual(args.slice(0, 4), [
      '-p',
      String(rental.connection.port),
      '-o',
      `UserKnownHostsFile=${join(config, '..', 'known_hosts.d', rental.id)}`,
    ]);
    assert.deepEqual(args.slice(-3), ['--', `${rental.connection.username}@127.0.0.1`, 'true']);
  }
});

test('ssh DEVICE lists the choices when the name matches no open rental, or more than one', async () => {
  const renter = await createRenter();
  const garage = await createListedDevice({ name: 'Pi' });
  const attic = await createListedDevice({ name: 'Pi' });
  const first = await createRental({ renter, device: garage });
  const second = await createRental({ renter, device: attic });
  const env = { ...renter.env, P2PVPS_SSH: '/bin/false' };

  const ambiguous = await runCli(['ssh', 'Pi'], { env });
  assert.equal(ambiguous.code, 1);
  const listed = [first, second].map((r) => `${r.id} on Pi`);
  assert.match(
    ambiguous.stderr,
    /^error \[ambiguous_rental\]: You have more than one open rental on a device called "Pi"; give a rental ID: /,
  );
  for (const choice of listed) assert.ok(ambiguous.stderr.includes(choice), ambiguous.stderr);

  const unknown = await runCli(['ssh', 'shed-pi'], { env });
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^error \[not_found\]: "shed-pi" is neither a rental ID nor a device you have an open rental on; yours: /);
  for (const choice of listed) assert.ok(unknown.stderr.includes(choice), unknown.stderr);

  const none = await runCli(['ssh', '../../etc/passwd'], { env: { ...(await createRenter()).env, P2PVPS_SSH: '/bin/false' } });
  assert.equal(
    none.stderr,
    'error [not_found]: "../../etc/passwd" is neither a rental ID nor a device you have an open rental on; you have no open rentals.\n',
  );
});
