import { operatorClient } from '@p2pvps/server/services/operator-client';
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  rentalContainers,
  createAgent,
  createServer,
  createSshKey,
  createUser,
  docker,
  removeDeviceContainers,
  tempDir,
  waitFor,
  type TestAgent,
  type TestServer,
} from './harness.ts';

/**
 * The renter's side through the real `p2pvps` binary, as a script would run it: no
 * terminal (a new session, so not even /dev/tty), no ssh agent, no keys in $HOME. It
 * signs up, rents a device whose real agent starts a real container, runs commands in it
 * over OpenSSH with the password handed over by askpass, stops the rental and sees it
 * end. Then the same with an SSH key.
 */
const bin = fileURLToPath(new URL('../packages/cli/bin/p2pvps', import.meta.url));

let server: TestServer;
let agent: TestAgent | undefined;
let deviceId: string | undefined;
let serverUrl: string;
let home: string;
let tmp: string;
let configFile: string;

before(async () => {
  server = await createServer();
  serverUrl = `http://127.0.0.1:${server.httpPort}`;
  home = tempDir('cli-home');
  tmp = tempDir('cli-tmp');
  configFile = join(home, 'p2pvps-cli.json');
  const owner = await createUser(server, 'owner');
  const grant = await owner.api.call('addDevice', { body: { name: 'cli-pi' } });
  deviceId = grant.device.id;
  agent = await createAgent(server, grant.enrolmentToken);
  await waitFor(
    'the device to come online',
    async () => (await owner.api.call('getDevice', { params: { deviceId: grant.device.id } })).online,
  );
  await owner.api.call('updateDevice', { params: { deviceId }, body: { pricePerHourMicros: 20_000, onMarket: true } });
});

after(async () => {
  await agent?.stop();
  await removeDeviceContainers(deviceId);
  await server?.stop();
});

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `p2pvps --server URL ARGS...` in its own session, with no terminal and a bare environment. */
function p2pvps(args: string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<CliRun> {
  const child = spawn(bin, ['--server', serverUrl, ...args], {
    detached: true,
    stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, HOME: home, TMPDIR: tmp, P2PVPS_CLI_CONFIG: configFile },
  });
  child.stdin?.end(opts.stdin);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `Rental    ID` and `SSH       ssh -p PORT USER@HOST` from rent's output. */
function parseRent(stdout: string): { rentalId: string; port: number; username: string } {
  const rentalId = /^Rental +([a-z0-9]+)$/m.exec(stdout)?.[1];
  const ssh = /^SSH +ssh -p (\d+) ([a-z0-9]+)@127\.0\.0\.1$/m.exec(stdout);
  assert.ok(rentalId && ssh, stdout);
  return { rentalId, port: Number(ssh[1]), username: ssh[2]! };
}

/** What the container's sshd logged about logins, e.g. `Accepted password for r1234567`. */
async function sshdLog(rentalId: string): Promise<string> {
  const [container] = await rentalContainers(rentalId);
  assert.ok(container, `the container of rental ${rentalId}`);
  const logs = await docker.getContainer(container.Id).logs({ stdout: true, stderr: true });
  return logs.toString('latin1');
}

async function rentalState(rentalId: string) {
  const all = await p2pvps(['rentals', '--all', '--json']);
  assert.equal(all.code, 0, all.stderr);
  const { rentals } = JSON.parse(all.stdout) as { rentals: { id: string; state: string; endReason: string | null }[] };
  return rentals.find((r) => r.id === rentalId);
}

async function listed(): Promise<boolean> {
  const { listings } = await server.api.call('market', { query: {} });
  return listings.some((l) => l.deviceId === deviceId);
}

/** Stops the rental when the test ends, whatever happened, so the next test finds the device listed again. */
function stopAfter(t: TestContext, rentalId: string): void {
  t.after(async () => {
    await p2pvps(['stop', rentalId]);
  });
}

test('signup, rent --wait without a key, ssh with the password from askpass and no terminal, stop', async (t) => {
  const signup = await p2pvps(['signup', '--email', 'cli-renter@example.org', '--password-stdin'], { stdin: 'correct horse battery\n' });
  assert.equal(signup.code, 0, signup.stderr);
  assert.equal(signup.stdout, `Signed up as cli-renter@example.org on ${serverUrl}.\nThe API token is saved in ${configFile}.\n`);
  const broke = await p2pvps(['rent', deviceId!, '--no-wait']);
  assert.equal(broke.code, 1);
  assert.match(broke.stderr, /^error \[insufficient_balance\]: Renting this device needs a balance of at least/);
  const operator = await operatorClient(serverUrl, server.dataDir);
  await operator.call('adminCredit', { body: { email: 'cli-renter@example.org', amountMicros: 5_000_000 } });

  const rent = await p2pvps(['rent', deviceId!, '--wait'], { timeoutMs: 180_000 });
  assert.equal(rent.code, 0, rent.stderr);
  assert.match(rent.stdout, /^State +active$/m);
  const { rentalId, username } = parseRent(rent.stdout);
  stopAfter(t, rentalId);
  assert.ok(rent.stdout.endsWith(`\nConnect with 'p2pvps ssh ${rentalId}'.\n`), rent.stdout);

  const whoami = await p2pvps(['ssh', rentalId, '--', 'id', '-un']);
  assert.equal(whoami.code, 0, whoami.stderr);
  assert.equal(whoami.stdout, `${username}\n`);
  assert.match(await sshdLog(rentalId), new RegExp(`Accepted password for ${username} `));
  // The password the renter sees (and just logged in with) is nowhere in the device's Docker config: only its crypt(3) hash.
  const listedRentals = JSON.parse((await p2pvps(['rentals', '--json'])).stdout) as {
    rentals: { id: string; connection: { password: string } }[];
  };
  const password = listedRentals.rentals.find((r) => r.id === rentalId)!.connection.password;
  assert.equal(password.length, 20, 'the renter can still reveal the password');
  const [container] = await rentalContainers(rentalId);
  const inspect = JSON.stringify(await docker.getContainer(container!.Id).inspect());
  assert.ok(!inspect.includes(password), 'docker inspect shows no plaintext password');
  // A container started for the rental carries the crypt(3) hash; a prepared one handed
  // over got it on its stdin, so its config holds no credential at all.
  if (container!.Labels['org.p2pvps.prepared']) assert.doesNotMatch(inspect, /P2PVPS_PASSWORD/);
  else assert.match(inspect, /"P2PVPS_PASSWORD_HASH=\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}"/);
  assert.deepEqual(
    (await readdir(tmp)).filter((f) => f.startsWith('p2pvps-askpass-')),
    [],
    'the askpass script is gone',
  );
  const knownHosts = join(home, 'known_hosts.d', rentalId);
  // One line (its host name hashed, Debian's default) with the container's host key.
  assert.match(await readFile(knownHosts, 'utf8'), /^\S+ ssh-ed25519 AAAA\S+\n$/, "the container's host key is kept for this rental");

  const exit7 = await p2pvps(['ssh', rentalId, '--', 'sh', '-c', 'exit 7']);
  assert.equal(exit7.code, 7, exit7.stderr);
  const words = await p2pvps(['ssh', rentalId, '--', 'printf', '%s|', "it's", '$HOME', 'a  b']);
  assert.equal(words.stdout, "it's|$HOME|a  b|", 'several words arrive as given');
  const line = await p2pvps(['ssh', rentalId, '--', 'echo $((6 * 7)) | tr 4 X']);
  assert.equal(line.stdout, 'X2\n', 'one word is a command line for the remote shell');

  const stop = await p2pvps(['stop', rentalId]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(stop.stdout, `Stopped rental ${rentalId} on cli-pi (ending); its container is destroyed and wiped.\n`);
  await assert.rejects(access(knownHosts), { code: 'ENOENT' }, 'the host key of the gone container is forgotten');
  const ended = await waitFor('the rental to end', async () => {
    const rental = await rentalState(rentalId);
    return rental?.state === 'ended' && rental;
  });
  assert.equal(ended.endReason, 'renter_stopped');
  const open = await p2pvps(['rentals']);
  assert.equal(open.stdout, "You have no open rentals; 'p2pvps rentals --all' shows past ones.\n");
  const refused = await p2pvps(['ssh', rentalId, '--', 'true']);
  assert.equal(refused.code, 1);
  assert.equal(
    refused.stderr,
    `error [rental_not_open]: Rental ${rentalId} has ended (renter_stopped); rent again to get a new container.\n`,
  );
});

test('rented with --ssh-key: ssh --identity logs in with the key; without a usable key, the password takes over', async (t) => {
  assert.ok(deviceId, 'runs after the first test');
  await waitFor('the device to be listed again', listed);
  const key = createSshKey();
  const rent = await p2pvps(['rent', deviceId, '--wait', '--ssh-key', key.privatePath], { timeoutMs: 180_000 });
  assert.equal(rent.code, 0, rent.stderr);
  const { rentalId, username } = parseRent(rent.stdout);
  stopAfter(t, rentalId);

  const withKey = await p2pvps(['ssh', rentalId, '--identity', key.privatePath, '--', 'id', '-un']);
  assert.equal(withKey.code, 0, withKey.stderr);
  assert.equal(withKey.stdout, `${username}\n`);
  assert.match(await sshdLog(rentalId), new RegExp(`Accepted publickey for ${username} `));
  assert.doesNotMatch(await sshdLog(rentalId), /Accepted password/);

  // $HOME has no keys and there is no ssh agent: ssh falls back to the password.
  const withoutKey = await p2pvps(['ssh', rentalId, '--', 'id', '-un']);
  assert.equal(withoutKey.code, 0, withoutKey.stderr);
  assert.equal(withoutKey.stdout, `${username}\n`);
  assert.match(await sshdLog(rentalId), new RegExp(`Accepted password for ${username} `));

  const stop = await p2pvps(['stop', rentalId]);
  assert.equal(stop.code, 0, stop.stderr);
  await waitFor('the second rental to end', async () => (await rentalState(rentalId))?.state === 'ended');
});
