import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import ssh2 from 'ssh2';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import type { ApiError } from '@p2pvps/protocol/client';
import { openDatabase } from '@p2pvps/server/db/database';
import { listHandbacks, listService } from '@p2pvps/server/db/federation-backups-repo';
import { listActivePeerListings } from '@p2pvps/server/db/federation-repo';
import { operatorClient } from '@p2pvps/server/services/operator-client';
import { createTestDatabase } from '@p2pvps/server/testing/test-database';
import { agentBackups, backupServer, childServer, linkWithBackup, type ChildServer } from './backup-peers.ts';
import {
  createAgent,
  createSshKey,
  createUser,
  docker,
  openSsh,
  portBlock,
  removeDeviceContainers,
  rentalContainers,
  runCommand,
  tempDir,
  waitFor,
  type TestAgent,
  type TestServer,
} from './harness.ts';
import { serveWeb } from './renter-web.ts';

/**
 * Backup peers (docs/federation.md, "Backup peers and failover"): two independent servers
 * on loopback, each its own database and operator. B (its own process) is the device's
 * home; C backs B up. A renter of B logs in with stock OpenSSH and serves a page; B is
 * killed with SIGKILL; the device's agent moves its tunnel to C's gateway, and the same
 * container (never wiped) answers SSH and HTTP through C. B starts again: the agent goes
 * home, and C hands the minutes it served back to B, which records them with C's fee.
 */
const bin = fileURLToPath(new URL('../packages/cli/bin/p2pvps', import.meta.url));
const base = portBlock(200);
const work = tempDir('failover');
const bDatabase = await createTestDatabase(`sqlite:${join(work, 'b.sqlite')}`);
let b: ChildServer;
let c: TestServer;
let agent: TestAgent | undefined;
let deviceId: string | undefined;

before(async () => {
  b = childServer({ name: 'b', dataDir: join(work, 'b'), databaseUrl: bDatabase.url, portBase: base, webDomain: 'b.test' });
  await b.start();
  c = await backupServer(base + 100, 'c.test');
  await linkWithBackup(b, c);
});

after(async () => {
  await agent?.stop();
  await removeDeviceContainers(deviceId);
  b?.kill();
  await c?.stop();
  rmSync(work, { recursive: true, force: true });
  await bDatabase.drop();
});

/** The real `p2pvps` binary as the renter runs it, with no terminal, against B. */
function p2pvps(args: string[], token: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(bin, ['--server', b.url, ...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, HOME: work, P2PVPS_CLI_CONFIG: join(work, 'cli.json'), P2PVPS_TOKEN: token },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Stock curl as a visitor of `host`, resolved to C's front door. */
const curlAtC = (host: string) =>
  runCommand('curl', ['-sS', '--max-time', '10', '--resolve', `${host}:${c.httpPort}:127.0.0.1`, `http://${host}:${c.httpPort}/`]);

test('a rental of B keeps answering SSH and HTTP through its backup C after B is killed, and C hands its minutes back', async () => {
  const home = {
    api: b.api,
    httpPort: b.httpPort,
    dataDir: b.dataDir,
    operator: operatorClient(b.url, b.dataDir),
  } as unknown as TestServer;
  const owner = await createUser(home, 'owner');
  const renter = await createUser(home, 'renter');
  const grant = await owner.api.call('addDevice', { body: { name: 'pi-on-b' } });
  deviceId = grant.device.id;
  const id = deviceId;
  agent = await createAgent(home, grant.enrolmentToken, { serverUrl: b.url, deviceConfig: { homeUnreachableS: 2, homeReturnS: 2 } });
  await waitFor('the device to come online on B', async () => (await owner.api.call('getDevice', { params: { deviceId: id } })).online);
  await owner.api.call('updateDevice', { params: { deviceId: id }, body: { pricePerHourMicros: 60_000, onMarket: true } });

  // B's signed listings, as C holds them, name C as B's backup.
  const signed = await waitFor("B's listing naming C at C", async () =>
    (await listActivePeerListings(c.running.ctx.db))
      .map((r) => JSON.parse(r.listing_json) as { deviceId: string; backups?: string[] })
      .find((l) => l.deviceId === id && l.backups),
  );
  assert.deepEqual(signed.backups, [`http://127.0.0.1:${c.httpPort}`]);

  const key = createSshKey();
  const rental = await renter.api.call('rent', { body: { deviceId: id, sshPublicKey: key.publicKey } });
  const atB = { port: rental.connection.port, user: rental.connection.username, identity: key.privatePath };
  const first = await waitFor('the first login, through B', async () => {
    const r = await openSsh(atB, 'echo "written before the failover" > ~/kept && cat ~/kept');
    return r.code === 0 && r;
  });
  assert.equal(first.stdout, 'written before the failover\n');
  await waitFor(
    'the rental to be active',
    async () => (await renter.api.call('getRental', { params: { rentalId: rental.id } })).state === 'active',
  );
  const webName = rental.connection.webHost.split('.')[0]!;
  await serveWeb(atB, `${webName}.c.test`, 'the-rental');

  // B's heartbeat replies name C (nudged when C gave the device a port): the agent keeps it.
  const backup = await waitFor('the agent to learn its backup C', async () => agentBackups(agent!.dataDir)[0], 30_000, 100);
  assert.equal(backup.server, `http://127.0.0.1:${c.httpPort}`);
  assert.equal(backup.webHost, `${webName}.c.test`);

  // While B is up, the rental's details name its backup address, and the CLI keeps it.
  const details = await renter.api.call('getRental', { params: { rentalId: rental.id } });
  assert.deepEqual(details.fallbacks, [
    { server: backup.server, ssh: { host: '127.0.0.1', port: backup.sshPort }, webHost: backup.webHost },
  ]);
  const { token } = await b.api.call('login', { body: { email: renter.email, password: 'correct horse battery' } });
  const viaB = await p2pvps(['ssh', rental.id, '--identity', key.privatePath, '--', 'cat ~/kept'], token);
  assert.equal(viaB.stdout, 'written before the failover\n', viaB.stderr);

  const [container] = await rentalContainers(rental.id, docker, false);
  assert.ok(container, "the rental's container runs");
  const startedBefore = (await docker.getContainer(container.Id).inspect()).State.StartedAt;

  const killedAt = Date.now();
  b.kill();
  const atC = { ...atB, port: backup.sshPort };
  const second = await waitFor(
    'the renter to log in through C',
    async () => {
      const r = await openSsh(atC, 'cat ~/kept', 5_000);
      return r.code === 0 && r;
    },
    60_000,
    200,
  );
  const seconds = (Date.now() - killedAt) / 1000;
  console.error(`# federation failover: the renter logged in through C ${seconds.toFixed(1)} s after B was killed`);
  assert.equal(second.stdout, 'written before the failover\n', 'the file of the first session is still there: no wipe');
  const inspect = await docker.getContainer(container.Id).inspect();
  assert.equal(inspect.State.Running, true);
  assert.equal(inspect.State.StartedAt, startedBefore, 'the same container, never stopped or restarted');
  // The renter's CLI cannot reach B: `p2pvps ssh` goes through the backup address B gave.
  const viaCli = await p2pvps(['ssh', rental.id, '--identity', key.privatePath, '--', 'cat ~/kept'], token);
  assert.equal(viaCli.code, 0, viaCli.stderr);
  assert.equal(viaCli.stdout, 'written before the failover\n');
  assert.match(viaCli.stderr, /through its backup server http:\/\/127\.0\.0\.1:/);
  // Nobody rents it at C meanwhile: the rental belongs to B.
  const renterAtC = await createUser(c, 'renter-at-c');
  await assert.rejects(
    renterAtC.api.call('rent', { body: { deviceId: id } }),
    (err: ApiError) => err.code === 'federation_device_unavailable',
  );
  const page = await curlAtC(backup.webHost);
  assert.equal(page.code, 0, page.stderr);
  assert.match(page.stdout, /^hello from the-rental /, "the rental's web name under C's domain reaches its container");

  // B comes back: the agent returns to it, and C hands back the minutes it served.
  await b.start();
  await waitFor('the agent to leave C', async () => !c.running.gateway.isOnline(id), 60_000, 200);
  const third = await waitFor('the renter to log in through B again', async () => {
    const r = await openSsh(atB, 'cat ~/kept', 5_000);
    return r.code === 0 && r;
  });
  assert.equal(third.stdout, 'written before the failover\n');
  const served = await waitFor('C to hand its minutes back', async () => {
    const rows = await listService(c.running.ctx.db);
    return rows.length > 0 && rows.every((r) => r.handed_back_at !== null) && rows;
  });
  assert.equal(served.length, 1);
  assert.equal(served[0]!.rental_id, rental.id);
  assert.ok(served[0]!.minutes >= 1);
  const bDb = openDatabase(bDatabase.url);
  try {
    const recorded = await listHandbacks(bDb);
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0]!.rental_id, rental.id);
    assert.equal(recorded[0]!.minutes, served[0]!.minutes);
    // 60,000 micro-units an hour: 1,000 a minute; C's fee is 10 % of that, owed by B.
    assert.equal(recorded[0]!.amount_micros, String(served[0]!.minutes * 1000));
    assert.equal(recorded[0]!.fee_micros, String(served[0]!.minutes * 100));
    assert.equal(served[0]!.fee_micros, recorded[0]!.fee_micros, 'both sides hold the same figure');
  } finally {
    await bDb.destroy();
  }
});

test("C's gateway refuses a device B never named", async () => {
  const stranger = generateEd25519KeyPair('stranger');
  const result = await new Promise<string>((resolve) => {
    const client = new ssh2.Client();
    client.on('ready', () => {
      client.end();
      resolve('logged in');
    });
    client.on('error', (err) => resolve(err.message));
    client.connect({
      host: '127.0.0.1',
      port: c.gatewayPort,
      username: 'dev_never_named',
      privateKey: stranger.private,
      readyTimeout: 10_000,
      hostVerifier: () => true,
    });
  });
  assert.match(result, /authentication methods failed/i);
});
