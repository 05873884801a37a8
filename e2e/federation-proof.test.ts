import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { federationStatementsPath } from '@p2pvps/protocol/federation-rental-schemas';
import { federationListingsPath } from '@p2pvps/protocol/federation-schemas';
import type { Listing } from '@p2pvps/protocol/schemas';
import { openDatabase, type Db } from '@p2pvps/server/db/database';
import { listHandbacks, listService } from '@p2pvps/server/db/federation-backups-repo';
import { listActivePeerListings } from '@p2pvps/server/db/federation-repo';
import { balanceOf } from '@p2pvps/server/domain/money/ledger';
import { chargeForMinutes, feeOf } from '@p2pvps/server/domain/money/money';
import { signObject } from '@p2pvps/server/federation/signed-objects';
import { operatorClient } from '@p2pvps/server/services/operator-client';
import { createTestDatabase } from '@p2pvps/server/testing/test-database';
import { agentBackups, backupServer, childServer, linkWithBackup, type ChildServer } from './backup-peers.ts';
import {
  createAgent,
  createServer,
  createSshKey,
  createUser,
  openSsh,
  portBlock,
  removeDeviceContainers,
  runCommand,
  tempDir,
  waitFor,
  type TestAgent,
  type TestServer,
} from './harness.ts';
import { serveWeb } from './renter-web.ts';

/**
 * The proof of issue 13 (docs/federation.md, "The proof"): three independent marketplaces on
 * loopback, each its own database and operator, a device on each. A renter on A rents B's
 * device through A, logs in with stock OpenSSH and serves a web page. B (its own process) is
 * killed with SIGKILL: B's device moves to its backup C, and the running rental answers over
 * SSH and HTTP through C. B starts again: the device goes home, C hands its minutes back, the
 * renter stops the rental at A, and the three ledgers agree to the micro-unit: A's
 * peer_account(B) is minus B's peer_account(A), B's peer_account(C) minus C's peer_account(B).
 * Also refused on the same three servers: a forged listing, a replayed request, a peer
 * publishing a device not its own, and a statement with a wrong sum. (Each refusal is tested
 * in more detail in e2e/federation-listings.test.ts and e2e/federation-rental.test.ts.)
 */
const base = portBlock(300);
const work = tempDir('fed-proof');
const price = 120_000; // 0.12 an hour: 2,000 micro-units a minute
const fast = {
  P2PVPS_FEE_PERCENT: '10',
  P2PVPS_FEDERATION_FEE_PERCENT: '5',
  P2PVPS_FEDERATION_PUSH_CHECK_MS: '200',
  P2PVPS_FEDERATION_PULL_MS: '0',
  P2PVPS_FEDERATION_RENTAL_TICK_MS: '200',
  P2PVPS_FEDERATION_REPORT_MINUTES: '1',
};
const bDatabase = await createTestDatabase(`sqlite:${join(work, 'b.sqlite')}`);
let a: TestServer;
let b: ChildServer;
let c: TestServer;
const agents: TestAgent[] = [];
const devices: string[] = [];
let bDb: Db | undefined;

const urlOf = (s: { httpPort: number }) => `http://127.0.0.1:${s.httpPort}`;

async function link(from: { url: string; dataDir: string }, to: { url: string; dataDir: string }): Promise<void> {
  const fingerprint = (await (await operatorClient(to.url, to.dataDir)).call('adminFederation')).identity.fingerprint;
  await (await operatorClient(from.url, from.dataDir)).call('adminLinkPeer', { body: { url: to.url, fingerprint } });
}

/** `at`'s peer_account of `of`, read from `at`'s own database. */
async function peerAccount(at: { url: string; dataDir: string; db: Db }, of: { url: string }): Promise<bigint> {
  const peers = (await (await operatorClient(at.url, at.dataDir)).call('adminFederation')).peers;
  return balanceOf(at.db, { kind: 'peer_account', peerId: peers.find((p) => p.url === of.url)!.id });
}

async function send(signed: { url: string; init: RequestInit }): Promise<{ status: number; body: { code?: string; message?: string } }> {
  const res = await fetch(signed.url, signed.init);
  return { status: res.status, body: (await res.json()) as { code?: string; message?: string } };
}

/** An owner on `server` with a device on its market. */
async function deviceOn(server: TestServer, name: string, serverUrl?: string, deviceConfig?: Record<string, unknown>) {
  const owner = await createUser(server, `owner-${name}`, 0);
  const grant = await owner.api.call('addDevice', { body: { name } });
  const id = grant.device.id;
  devices.push(id);
  agents.push(await createAgent(server, grant.enrolmentToken, { serverUrl, deviceConfig }));
  await waitFor(`${name} online`, async () => (await owner.api.call('getDevice', { params: { deviceId: id } })).online);
  await owner.api.call('updateDevice', { params: { deviceId: id }, body: { pricePerHourMicros: price, onMarket: true } });
  return { owner, id };
}

before(async () => {
  b = childServer({ name: 'b', dataDir: join(work, 'b'), databaseUrl: bDatabase.url, portBase: base, webDomain: 'b.test', env: fast });
  await b.start();
  a = await createServer({ portBase: base + 100, env: { ...fast, P2PVPS_SERVER_NAME: 'a', P2PVPS_WEB_DOMAIN: 'a.test' } });
  c = await backupServer(base + 200, 'c.test');
  const A = { url: urlOf(a), dataDir: a.dataDir };
  const C = { url: urlOf(c), dataDir: c.dataDir };
  await linkWithBackup(b, c);
  for (const [x, y] of [
    [A, b],
    [b, A],
    [A, C],
    [C, A],
  ] as const)
    await link(x, y);
});

after(async () => {
  for (const agent of agents) await agent.stop();
  for (const id of devices) await removeDeviceContainers(id);
  await bDb?.destroy();
  b?.kill();
  await a?.stop();
  await c?.stop();
  rmSync(work, { recursive: true, force: true });
  await bDatabase.drop();
});

test('a renter on A rents B’s device through A; B is killed and the rental answers through C; B returns and the three ledgers agree', async () => {
  const home = { api: b.api, httpPort: b.httpPort, dataDir: b.dataDir } as unknown as TestServer;
  const onB = await deviceOn(home, 'pi-on-b', b.url, { homeUnreachableS: 2, homeReturnS: 2 });
  const onA = await deviceOn(a, 'pi-on-a');
  const onC = await deviceOn(c, 'pi-on-c');
  const renter = await createUser(a, 'renter', 10_000_000);

  // A's market shows all three servers' devices, each marked with its home.
  const market = await waitFor('A’s market to show B’s and C’s devices', async () => {
    const listings = (await a.api.call('market', { query: {} })).listings as Listing[];
    return [onA.id, onB.id, onC.id].every((id) => listings.some((l) => l.deviceId === id)) && listings;
  });
  assert.equal(market.find((l) => l.deviceId === onB.id)!.homeServerUrl, b.url);
  assert.equal(market.find((l) => l.deviceId === onC.id)!.homeServerUrl, urlOf(c));

  const key = createSshKey();
  const rented = await renter.api.call('rent', { body: { deviceId: onB.id, sshPublicKey: key.publicKey } });
  assert.equal(rented.homeServerUrl, b.url);
  const atB = { host: rented.connection.host, port: rented.connection.port, user: rented.connection.username, identity: key.privatePath };
  const first = await waitFor('the first login with OpenSSH, at the address A shows (B’s gateway)', async () => {
    const r = await openSsh(atB, 'echo "written before B died" > ~/kept && cat ~/kept');
    return r.code === 0 && r;
  });
  assert.equal(first.stdout, 'written before B died\n');
  await waitFor(
    'the rental active at A',
    async () => (await renter.api.call('getRental', { params: { rentalId: rented.id } })).state === 'active',
  );
  const webName = rented.connection.webHost.split('.')[0]!;
  await serveWeb(atB, rented.connection.webHost, 'proof');
  const curlAt = (host: string, port: number) =>
    runCommand('curl', ['-sS', '--max-time', '10', '--resolve', `${host}:${port}:127.0.0.1`, `http://${host}:${port}/`]);
  const pageAtB = await waitFor('the page through B’s front door', async () => {
    const r = await curlAt(rented.connection.webHost, b.httpPort);
    return r.stdout.includes('hello from proof') && r.stdout;
  });
  assert.match(pageAtB, /^hello from proof /);

  // A minute passes on the wall clock (B is its own process): B reports it signed, A charges the renter.
  await waitFor(
    'A to take B’s first usage report',
    async () => (await renter.api.call('getRental', { params: { rentalId: rented.id } })).costMicros > 0,
    120_000,
  );

  // B's heartbeat replies name C as the device's backup, with a port of C's own for it.
  const backup = await waitFor('the agent to learn its backup C', async () => agentBackups(agents[0]!.dataDir)[0], 30_000, 100);
  assert.equal(backup.server, urlOf(c));
  assert.equal(backup.webHost, `${webName}.c.test`);

  const killedAt = Date.now();
  b.kill();
  const atC = { ...atB, host: '127.0.0.1', port: backup.sshPort };
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
  console.error(`# federation proof: the rental answered SSH through C ${seconds.toFixed(1)} s after B was killed`);
  assert.ok(seconds < 60, `reachable through C within 60 s (${seconds} s)`);
  assert.equal(second.stdout, 'written before B died\n', 'the same container: no wipe');
  // C told A, signed, where the rental is now (B's signed listing named C as its backup): A's
  // rental view shows C's address, and the renter logs in there.
  const shown = await waitFor('A’s rental view to show C’s address', async () => {
    const r = await renter.api.call('getRental', { params: { rentalId: rented.id } });
    return r.connection.port === backup.sshPort && r;
  });
  assert.equal(shown.connection.webHost, backup.webHost);
  assert.equal(shown.connection.httpUrl, `http://${backup.webHost}:${c.httpPort}/`);
  const atShown = { ...atB, host: shown.connection.host, port: shown.connection.port };
  assert.equal((await openSsh(atShown, 'cat ~/kept', 5_000)).stdout, 'written before B died\n', 'at the address A shows');
  const pageAtC = await curlAt(backup.webHost, c.httpPort);
  assert.equal(pageAtC.code, 0, pageAtC.stderr);
  assert.match(pageAtC.stdout, /^hello from proof /, 'the web page through C’s front door');
  // A's rental stays active meanwhile: its renter's money stays at A.
  assert.equal((await renter.api.call('getRental', { params: { rentalId: rented.id } })).state, 'active');

  // B returns: the device goes home, C hands back its stretch with its fee, the rental goes on at B.
  await b.start();
  bDb = openDatabase(bDatabase.url);
  await waitFor('the agent to leave C', async () => !c.running.gateway.isOnline(onB.id), 60_000, 200);
  const third = await waitFor('the renter to log in through B again', async () => {
    const r = await openSsh(atB, 'cat ~/kept', 5_000);
    return r.code === 0 && r;
  });
  assert.equal(third.stdout, 'written before B died\n');
  const served = await waitFor('C to hand its minutes back', async () => {
    const rows = await listService(c.running.ctx.db);
    return rows.length > 0 && rows.every((r) => r.handed_back_at !== null) && rows;
  });
  const recorded = await listHandbacks(bDb);
  assert.deepEqual(
    recorded.map((r) => [r.rental_id, r.minutes, r.fee_micros]),
    served.map((s) => [s.rental_id, s.minutes, s.fee_micros]),
    'B recorded what C served, with the same fee',
  );

  // B bills minutes it served itself again: A shows B's own address once more.
  const backHome = await waitFor(
    'A’s rental view to show B’s address again',
    async () => {
      const r = await renter.api.call('getRental', { params: { rentalId: rented.id } });
      return r.connection.port === atB.port && r;
    },
    150_000,
    500,
  );
  assert.equal(backHome.connection.webHost, rented.connection.webHost);

  // The renter stops the rental at A; B's last report reaches A.
  await renter.api.call('stopRental', { params: { rentalId: rented.id } });
  await waitFor(
    'the rental ended at A',
    async () => (await renter.api.call('getRental', { params: { rentalId: rented.id } })).state === 'ended',
    60_000,
  );
  // B carries C's stretch into its report chain to A, servedBy C, once; A takes every report.
  const reports = await waitFor('every usage report of B, C’s stretch included, acknowledged by A', async () => {
    const rows = await bDb!.selectFrom('federation_usage').selectAll().orderBy('seq').execute();
    const parsed = rows.map((r) => JSON.parse(r.report_json) as { servedBy: string; minutes: number; totalMinutes: number });
    return rows.every((r) => r.ack_json !== null) && parsed.some((r) => r.servedBy === urlOf(c)) && parsed;
  });
  const minutesBy = (server: string) => reports.filter((r) => r.servedBy === server).reduce((n, r) => n + r.minutes, 0);
  const byB = minutesBy(b.url);
  const byC = minutesBy(urlOf(c));
  assert.equal(
    byC,
    served.reduce((n, r) => n + r.minutes!, 0),
    'B carried the minutes C served into its reports to A',
  );
  assert.equal(reports.at(-1)!.totalMinutes, byB + byC, 'and nothing else: every report is B’s or C’s');
  const charged = chargeForMinutes(BigInt(price), BigInt(byB + byC));
  console.error(`# federation proof: A's renter paid ${byB} min served by B and ${byC} min served by C`);
  const ended = await renter.api.call('getRental', { params: { rentalId: rented.id } });
  assert.equal(
    BigInt(ended.costMicros),
    charged + feeOf(charged, 500n),
    `A's renter paid ${byB} min served by B and ${byC} min served by C at the price, plus A's fee`,
  );

  const A = { url: urlOf(a), dataDir: a.dataDir, db: a.running.ctx.db };
  const B = { url: b.url, dataDir: b.dataDir, db: bDb };
  const C = { url: urlOf(c), dataDir: c.dataDir, db: c.running.ctx.db };
  const aOwesB = await peerAccount(A, B);
  assert.equal(aOwesB, charged, `A owes B the minutes B reported, C's stretch included (${aOwesB})`);
  assert.equal(aOwesB, -(await peerAccount(B, A)), "A's peer_account(B) is minus B's peer_account(A)");
  const bOwesC = await peerAccount(B, C);
  const fee = served.reduce((s, r) => s + BigInt(r.fee_micros!), 0n);
  assert.ok(fee > 0n, 'C served at least a minute');
  assert.equal(bOwesC, fee, "B owes C the backup fee of C's stretches");
  assert.equal(bOwesC, -(await peerAccount(C, B)), "B's peer_account(C) is minus C's peer_account(B)");
  for (const m of [A, B, C])
    assert.equal((await (await operatorClient(m.url, m.dataDir)).call('adminLedger')).totalMicros, 0, `${m.url}'s ledger sums to zero`);
});

test('on the same three servers: a forged listing, a replayed request, a peer publishing a device not its own and a statement with a wrong sum are refused', async () => {
  const aFed = a.running.federation;
  const cFed = c.running.federation;
  // C's own listings, their price changed after C signed them: forged.
  const forged = (await cFed.sync.snapshot()).map((l) => ({ ...l, pricePerHourMicros: 1 }));
  assert.ok(forged.length > 0);
  const forgedReply = await send(cFed.client.signed(urlOf(a), 'POST', federationListingsPath, { listings: forged }));
  assert.equal(forgedReply.body.code, 'federation_listing_forged');
  // The same signed request twice: the second is a replay.
  const signed = cFed.client.signed(urlOf(a), 'POST', federationListingsPath, { listings: await cFed.sync.snapshot() });
  assert.equal((await send(signed)).status, 200);
  assert.equal((await send(signed)).body.code, 'federation_replay');
  // C relays B's genuinely signed listing (as A holds it) as its own: refused.
  const fromB = (await listActivePeerListings(a.running.ctx.db))
    .filter((r) => r.url === b.url)
    .map((r) => JSON.parse(r.listing_json) as object);
  assert.ok(fromB.length > 0, 'A holds B’s signed listings');
  const foreign = await send(cFed.client.signed(urlOf(a), 'POST', federationListingsPath, { listings: fromB }));
  assert.equal(foreign.body.code, 'federation_foreign_listing');
  // A statement to B (its own process) whose closing is not opening + lines − payments.
  const now = new Date().toISOString();
  const signer = { url: urlOf(a), keyId: aFed.identity.key.id, sign: (d: Buffer) => aFed.identity.sign(d) };
  const statement = signObject(
    {
      type: 'p2pvps-statement' as const,
      counterparty: b.url,
      period: { from: new Date(Date.now() - 60_000).toISOString(), to: now },
      previousStatementHash: null,
      currency: 'USD',
      openingMicros: '0',
      lines: [],
      payments: [],
      closingMicros: '1',
      dueAt: now,
    },
    signer,
  );
  const wrongSum = await send(aFed.client.signed(b.url, 'POST', federationStatementsPath, statement));
  assert.equal(wrongSum.body.code, 'federation_statement_mismatch', JSON.stringify(wrongSum.body));
  assert.match(wrongSum.body.message ?? '', /closing 1 is not opening \+ lines − payments = 0/);
});
