import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiClient, ApiError } from '@p2pvps/protocol/client';
import { federationRentalsPath, federationStatementsPath, type RentalOffer } from '@p2pvps/protocol/federation-rental-schemas';
import type { Listing, Rental } from '@p2pvps/protocol/schemas';
import { operatorClient } from '@p2pvps/server/services/operator-client';
import { balanceOf } from '@p2pvps/server/domain/money/ledger';
import { signObject } from '@p2pvps/server/federation/signed-objects';
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
import { runP2pvps } from './cli-runner.ts';

/**
 * Two independent marketplaces on loopback, each its own database and operator: a renter on
 * A rents a device of B through A, logs in with stock OpenSSH at B's gateway and serves a web
 * page reached through B's front door by its web name, then stops it at A. B reports the
 * minutes signed; A charges the renter and owes B; the two ledgers agree to the micro-unit.
 * Offers B must refuse (a replay, a changed price, a device not B's own) and a guarantee A
 * stops renewing are checked on the same pair.
 */
interface Marketplace {
  name: string;
  server: TestServer;
  url: string;
  operator: ApiClient;
}
const markets: Marketplace[] = [];
let a: Marketplace;
let b: Marketplace;
let deviceId: string | undefined;
let agent: TestAgent | undefined;
let owner: { api: ApiClient; id: string };
let renter: { api: ApiClient; id: string; email: string };

// Both servers' clocks run with the wall clock plus an offset the test moves, so minutes of
// renting pass at once; the agent's signed requests stay within the 5-minute skew allowed.
let offsetMs = 0;
const clock = { now: () => new Date(Date.now() + offsetMs) };
const base = portBlock(200);
const price = 120_000; // 0.12 per hour: 2,000 micro-units a minute

const cliHome = tempDir('fed-cli-home');
/** The real `p2pvps` binary at A, as the renter runs it. */
const p2pvps = (args: string[], stdin?: string) => runP2pvps(a.url, cliHome, args, stdin);

async function marketplace(name: string, block: number, feePercent: string): Promise<Marketplace> {
  const server = await createServer({
    portBase: base + block * 100,
    clock,
    env: {
      P2PVPS_SERVER_NAME: name,
      P2PVPS_FEE_PERCENT: '10',
      P2PVPS_FEDERATION_FEE_PERCENT: feePercent,
      P2PVPS_FEDERATION_PUSH_CHECK_MS: '200',
      P2PVPS_FEDERATION_PULL_MS: '0',
      P2PVPS_FEDERATION_RENTAL_TICK_MS: '200',
      P2PVPS_FEDERATION_REPORT_MINUTES: '1',
    },
  });
  const url = `http://127.0.0.1:${server.httpPort}`;
  const m = { name, server, url, operator: await operatorClient(url, server.dataDir) };
  markets.push(m);
  return m;
}

async function link(from: Marketplace, to: Marketplace): Promise<void> {
  const fingerprint = (await to.operator.call('adminFederation')).identity.fingerprint;
  await from.operator.call('adminLinkPeer', { body: { url: to.url, fingerprint } });
}

const peerId = async (at: Marketplace, of: Marketplace) =>
  (await at.operator.call('adminFederation')).peers.find((p) => p.url === of.url)!.id;
const peerAccount = async (at: Marketplace, of: Marketplace) =>
  balanceOf(at.server.running.ctx.db, { kind: 'peer_account', peerId: await peerId(at, of) });

/** Sends a request to `to` signed by `from`'s server key; the reply's status and body. */
async function send(signed: {
  url: string;
  init: RequestInit;
}): Promise<{ status: number; body: { code?: string; message?: string; rentalId?: string } }> {
  const res = await fetch(signed.url, signed.init);
  return { status: res.status, body: (await res.json()) as { code?: string } };
}

before(async () => {
  a = await marketplace('a', 0, '5');
  b = await marketplace('b', 1, '5');
  await link(a, b);
  await link(b, a);
  owner = await createUser(b.server, 'owner', 0);
  renter = await createUser(a.server, 'renter', 10_000_000);
  const grant = await owner.api.call('addDevice', { body: { name: 'pi-on-b' } });
  deviceId = grant.device.id;
  agent = await createAgent(b.server, grant.enrolmentToken);
  const id = deviceId;
  await waitFor('the device to come online on B', async () => (await owner.api.call('getDevice', { params: { deviceId: id } })).online);
  await owner.api.call('updateDevice', { params: { deviceId: id }, body: { pricePerHourMicros: price, onMarket: true } });
});

after(async () => {
  // The agent first: it may be removing a container still, which the clean-up would race.
  await agent?.stop();
  await removeDeviceContainers(deviceId);
  for (const m of markets) await m.server.stop();
});

test('a link across currencies is refused', async () => {
  const other = await createServer({ env: { P2PVPS_CURRENCY: 'EUR' } });
  try {
    const url = `http://127.0.0.1:${other.httpPort}`;
    const fingerprint = (await (await operatorClient(url, other.dataDir)).call('adminFederation')).identity.fingerprint;
    await assert.rejects(
      a.operator.call('adminLinkPeer', { body: { url, fingerprint } }),
      (err: ApiError) => err.code === 'federation_currency_mismatch' && err.message.includes('EUR'),
    );
  } finally {
    await other.stop();
  }
});

test("A's market shows B's device with each side's fee before renting", async () => {
  const listing = await waitFor("B's device on A's market", async () =>
    (await a.server.api.call('market', { query: {} })).listings.find((l: Listing) => l.deviceId === deviceId),
  );
  assert.equal(listing.homeServerUrl, b.url);
  assert.equal(listing.pricePerHourMicros, price);
  assert.deepEqual(listing.federationFees, { renterPricePerHourMicros: 126_000, feePercent: 5, homeFeePercent: 10 });
});

test('a renter on A rents B’s device through A, logs in with OpenSSH, serves a web page through B, and stops it; the ledgers agree', async () => {
  // Through the real `p2pvps` binary at A, as the renter would.
  const login = await p2pvps(['login', '--email', renter.email, '--password-stdin'], 'correct horse battery\n');
  assert.equal(login.code, 0, login.stderr);
  const shown = await p2pvps(['market']);
  assert.match(shown.stdout, /0\.126 USD \(0\.12 USD \+ 5%; home takes 10%\)/, 'each side’s fee before renting');
  const key = createSshKey();
  const rent = await p2pvps(['rent', deviceId!, '--ssh-key', key.privatePath, '--wait']);
  assert.equal(rent.code, 0, rent.stderr);
  assert.match(rent.stdout, /^State +active$/m);
  const rentalId = /^Rental +([a-z0-9]+)$/m.exec(rent.stdout)?.[1];
  assert.ok(rentalId, rent.stdout);
  const rented = await renter.api.call('getRental', { params: { rentalId } });
  assert.equal(rented.homeServerUrl, b.url);
  assert.equal(rented.pricePerHourMicros, 126_000, 'the price with A’s fee');
  assert.ok(rented.connection.password.length > 10, 'A shows the password B gave');
  assert.match(rented.connection.webHost, /\./);
  assert.equal(rented.connection.httpUrl, `http://${rented.connection.webHost}:${b.server.httpPort}/`, 'B’s front door');
  // B's addresses: its gateway's port for the device, the username of B's rental for the peer.
  const onB = (await b.server.running.ctx.db.selectFrom('rentals').selectAll().execute()).find((r) => r.origin_peer_id);
  assert.ok(onB, 'B made an ordinary rental for the peer');
  assert.equal(rented.connection.username, onB.username);
  assert.equal(rented.connection.port, (await owner.api.call('getDevice', { params: { deviceId: deviceId! } })).sshPort);

  const viaCli = await p2pvps(['ssh', rentalId, '--identity', key.privatePath, '--', 'id', '-un']);
  assert.equal(viaCli.stdout, `${rented.connection.username}\n`, viaCli.stderr);
  // Stock OpenSSH, at the host and port A shows.
  const ssh = { port: rented.connection.port, user: rented.connection.username, identity: key.privatePath, host: rented.connection.host };
  const who = await openSsh(ssh, 'id -un');
  assert.equal(who.stdout.trim(), rented.connection.username);
  const active = await waitFor('the rental active at A', async () => {
    const r = await renter.api.call('getRental', { params: { rentalId: rented.id } });
    return r.state === 'active' && r;
  });
  assert.equal(active.connection.port, rented.connection.port);

  // The web page, through B's front door by its web name.
  const host = rented.connection.webHost;
  await serveWeb(ssh, host, 'through-a');
  const curl = () =>
    runCommand('curl', [
      '-sS',
      '--max-time',
      '10',
      '--resolve',
      `${host}:${b.server.httpPort}:127.0.0.1`,
      `http://${host}:${b.server.httpPort}/hi`,
    ]);
  const page = await waitFor('the web page through B', async () => {
    const r = await curl();
    return r.stdout.includes('hello from through-a') && r.stdout;
  });
  assert.match(page, /path=\/hi/);

  // Three minutes pass: B reports them signed, A charges the renter.
  offsetMs += 3 * 60_000;
  await waitFor(
    'A to take B’s usage report',
    async () => (await renter.api.call('getRental', { params: { rentalId: rented.id } })).costMicros > 0,
  );
  const listed = (await renter.api.call('listRentals', { query: {} })).rentals.map((r: Rental) => r.id);
  assert.ok(listed.includes(rented.id), 'the rental is among the renter’s rentals at A');

  await renter.api.call('stopRental', { params: { rentalId: rented.id } });
  const ended = await waitFor('the rental ended at A', async () => {
    const r = await renter.api.call('getRental', { params: { rentalId: rented.id } });
    return r.state === 'ended' && r;
  });
  assert.equal(ended.endReason, 'renter_stopped');
  assert.equal(ended.connection.password, '');
  await waitFor('the container on B gone (ssh refused)', async () => (await openSsh(ssh, 'true')).code !== 0);

  // Every report acknowledged: the inter-server account agrees to the micro-unit.
  await waitFor('every usage report acknowledged', async () => {
    const rows = await b.server.running.ctx.db.selectFrom('federation_usage').selectAll().execute();
    return rows.length > 0 && rows.every((r) => r.ack_json !== null);
  });
  const reports = await b.server.running.ctx.db.selectFrom('federation_usage').selectAll().orderBy('seq').execute();
  const last = JSON.parse(reports.at(-1)!.report_json) as { totalMinutes: number; totalMicros: string };
  // Three minutes passed on the clocks, plus the seconds the test took.
  assert.ok(last.totalMinutes >= 3 && last.totalMinutes <= 4, `${last.totalMinutes} min reported`);
  const total = BigInt(last.totalMinutes) * 2_000n; // 2,000 a minute
  assert.equal(BigInt(last.totalMicros), total);
  const owedAtA = await peerAccount(a, b);
  const owedAtB = await peerAccount(b, a);
  assert.equal(owedAtA, total, 'A owes B the minutes at the listed price');
  assert.equal(owedAtA, -owedAtB, "A's peer_account(B) is minus B's peer_account(A)");
  // The renter paid the minutes and A's 5 %; the owner earned them less B's 10 %.
  const renterPaid = total + total / 20n;
  assert.equal(BigInt((await renter.api.call('getBalance')).balanceMicros), 10_000_000n - renterPaid);
  assert.equal(BigInt((await owner.api.call('getBalance')).earningsMicros), total - total / 10n);
  assert.equal(BigInt(ended.costMicros), renterPaid);
  // Each ledger still sums to zero.
  for (const m of [a, b]) assert.equal((await m.operator.call('adminLedger')).totalMicros, 0);
});

/** Waits until B's every usage report is acknowledged by A; then A's account of B is minus B's account of A. */
async function ledgersAgree(): Promise<bigint> {
  await waitFor('every usage report acknowledged', async () => {
    const rows = await b.server.running.ctx.db.selectFrom('federation_usage').selectAll().execute();
    return rows.length > 0 && rows.every((r) => r.ack_json !== null);
  });
  const owedAtA = await peerAccount(a, b);
  assert.equal(owedAtA, -(await peerAccount(b, a)), "A's peer_account(B) is minus B's peer_account(A)");
  return owedAtA;
}

async function rentThroughA(): Promise<{ rented: Rental; ssh: { port: number; user: string; identity: string } }> {
  await waitFor('the device back on A’s market', async () =>
    (await a.server.api.call('market', { query: {} })).listings.some((l: Listing) => l.deviceId === deviceId),
  );
  const key = createSshKey();
  const rented = await renter.api.call('rent', { body: { deviceId: deviceId!, sshPublicKey: key.publicKey } });
  const ssh = { port: rented.connection.port, user: rented.connection.username, identity: key.privatePath };
  await waitFor('ssh into the container on B', async () => (await openSsh(ssh, 'true')).code === 0);
  await waitFor(
    'the rental active at A',
    async () => (await renter.api.call('getRental', { params: { rentalId: rented.id } })).state === 'active',
  );
  return { rented, ssh };
}

test('while A is down, B keeps its reports and state changes and sends them in order once A is back', async () => {
  const before = await ledgersAgree();
  const { rented, ssh } = await rentThroughA();
  await a.server.down();
  try {
    offsetMs += 3 * 60_000;
    await waitFor('B to have a report A could not take', async () => {
      const rows = await b.server.running.ctx.db.selectFrom('federation_usage').selectAll().where('rental_id', '!=', '').execute();
      return rows.some((r) => r.ack_json === null);
    });
    // The renter's rental runs on at B meanwhile.
    assert.equal((await openSsh(ssh, 'true')).code, 0);
  } finally {
    await a.server.up();
  }
  await waitFor(
    'A to take the queued report',
    async () => (await renter.api.call('getRental', { params: { rentalId: rented.id } })).costMicros > 0,
  );
  await renter.api.call('stopRental', { params: { rentalId: rented.id } });
  await waitFor(
    'the rental ended at A',
    async () => (await renter.api.call('getRental', { params: { rentalId: rented.id } })).state === 'ended',
  );
  const after = await ledgersAgree();
  assert.ok(after - before >= 6_000n, 'the minutes of the second rental are owed too');
});

test('statements: a line that differs and a wrong sum are refused naming them; a true one is acknowledged; over the limit, new rentals wait until A settles', async () => {
  const bFed = b.server.running.federation;
  const aAtB = (await bFed.peers.list()).find((p) => p.url === a.url)!;
  const peerRow = (await b.server.running.ctx.db.selectFrom('federation_peers').selectAll().where('id', '=', aAtB.id).executeTakeFirst())!;
  const signer = { url: b.url, keyId: bFed.identity.key.id, sign: (d: Buffer) => bFed.identity.sign(d) };
  const statementTo = async (doc: object) => send(bFed.client.signed(a.url, 'POST', federationStatementsPath, doc));

  // A true statement, then the same with its first line's amount changed (signed by B all the same).
  const truth = await bFed.statements.issue(peerRow);
  assert.equal(truth.state, 'acknowledged', truth.problem ?? '');
  assert.ok(truth.statement.lines.length >= 2);
  const { signature: _s, issuer: _i, keyId: _k, ...fields } = truth.statement;
  const since = { from: truth.statement.period.to, to: clock.now().toISOString() };
  const follow = {
    ...fields,
    period: since,
    previousStatementHash: truth.hash,
    openingMicros: truth.statement.closingMicros,
    lines: [],
    payments: [],
  };
  const wrongSum = await statementTo(signObject({ ...follow, closingMicros: String(BigInt(truth.statement.closingMicros) + 1n) }, signer));
  assert.equal(wrongSum.status, 422);
  assert.equal(wrongSum.body.code, 'federation_statement_mismatch');
  assert.match(wrongSum.body.message ?? '', /closing \d+ is not opening \+ lines − payments = \d+/);
  const changedLine = await statementTo(
    signObject(
      {
        ...follow,
        lines: [{ ...truth.statement.lines[0]!, amountMicros: '1' }],
        closingMicros: String(BigInt(truth.statement.closingMicros) + 1n),
      },
      signer,
    ),
  );
  assert.equal(changedLine.body.code, 'federation_statement_mismatch');
  assert.match(changedLine.body.message ?? '', /line 1 \(rental \w+, report 1\) is not a report acknowledged here/);
  // A keeps what it refused, for its operator.
  const seenAtA = (await a.operator.call('adminPeerStatements', { params: { peerId: await peerId(a, b) } })).statements;
  assert.deepEqual(seenAtA.map((st) => st.state).sort(), ['acknowledged', 'refused', 'refused']);

  // B lets A owe at most 0.001: A is over it, and its renter's new rental is refused.
  const owed = await peerAccount(a, b);
  const limited = await b.operator.call('adminSetPeerLimit', { params: { peerId: aAtB.id }, body: { limitMicros: 1_000 } });
  assert.ok(limited.overLimitSince, 'A is over the limit');
  await waitFor('the device back on A’s market', async () =>
    (await a.server.api.call('market', { query: {} })).listings.some((l: Listing) => l.deviceId === deviceId),
  );
  await assert.rejects(
    renter.api.call('rent', { body: { deviceId: deviceId! } }),
    (err: ApiError) => err.code === 'federation_credit_exceeded',
  );
  // A pays what it owes off-protocol and records it: B receipts it, both accounts are settled, A is back under the limit.
  const settled = await a.operator.call('adminSettlePeer', {
    params: { peerId: await peerId(a, b) },
    body: { amountMicros: Number(owed), reference: 'bank transfer 42' },
  });
  assert.equal(settled.receipted, true, settled.problem ?? '');
  assert.equal(await peerAccount(a, b), 0n);
  assert.equal(await peerAccount(b, a), 0n);
  const back = (await b.operator.call('adminFederation')).peers.find((p) => p.url === a.url)!;
  assert.equal(back.overLimitSince, null);
  // The next statement carries the payment and closes at zero; A acknowledges it.
  offsetMs += 1_000;
  const next = await bFed.statements.issue(peerRow);
  assert.equal(next.state, 'acknowledged', next.problem ?? '');
  assert.equal(next.statement.closingMicros, '0');
  assert.equal(next.statement.payments.length, 1);
  for (const m of [a, b]) assert.equal((await m.operator.call('adminLedger')).totalMicros, 0);
  await b.operator.call('adminSetPeerLimit', { params: { peerId: aAtB.id }, body: { limitMicros: null } });
});

function offer(over: Partial<RentalOffer>): RentalOffer {
  return {
    requestId: `req${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`,
    deviceId: deviceId!,
    listingSignedAt: new Date().toISOString(),
    pricePerHourMicros: price,
    hours: null,
    renter: { handle: 'someone@a', sshPublicKey: null },
    guarantee: { maxMicros: String(price), validUntil: new Date(clock.now().getTime() + 60 * 60_000).toISOString() },
    ...over,
  };
}

test('B refuses an offer at another price, for a device not its own, and a replayed offer; a repeated requestId finds the same rental', async () => {
  const fed = a.server.running.federation;
  await waitFor('the device back on B’s market', async () =>
    (await b.server.api.call('market', { query: {} })).listings.some((l: Listing) => l.deviceId === deviceId),
  );
  const changed = await send(fed.client.signed(b.url, 'POST', federationRentalsPath, offer({ pricePerHourMicros: 1 })));
  assert.equal(changed.status, 409);
  assert.equal(changed.body.code, 'federation_terms_changed');
  const foreign = await send(fed.client.signed(b.url, 'POST', federationRentalsPath, offer({ deviceId: 'notbsdevice1' })));
  assert.equal(foreign.body.code, 'federation_device_unavailable');

  // A guarantee that A will not renew (A has no record of this offer): B ends the rental when it runs out.
  const short = offer({ guarantee: { maxMicros: String(price), validUntil: new Date(clock.now().getTime() + 2 * 60_000).toISOString() } });
  const signed = fed.client.signed(b.url, 'POST', federationRentalsPath, short);
  const made = await send(signed);
  assert.equal(made.status, 200, JSON.stringify(made.body));
  const replay = await send(signed);
  assert.equal(replay.body.code, 'federation_replay');
  const again = await send(fed.client.signed(b.url, 'POST', federationRentalsPath, short));
  assert.equal(again.body.rentalId, made.body.rentalId, 'the same requestId, signed anew, finds the same rental');

  offsetMs += 3 * 60_000;
  const row = await waitFor('B to end it when the guarantee ran out', async () => {
    const r = await b.server.running.ctx.db.selectFrom('rentals').selectAll().where('id', '=', made.body.rentalId!).executeTakeFirst();
    return r?.state !== 'requested' && r?.state !== 'active' && r;
  });
  assert.equal(row.end_reason, 'guarantee_expired');
  await waitFor('its container removed', async () => {
    const r = await b.server.running.ctx.db.selectFrom('rentals').select('state').where('id', '=', made.body.rentalId!).executeTakeFirst();
    return r?.state === 'ended';
  });
});
