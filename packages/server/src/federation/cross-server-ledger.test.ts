import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageReport, type RentalOffer } from '@p2pvps/protocol/federation-rental-schemas';
import { insertPeer, type PeerRow } from '../db/federation-repo.ts';
import { insertHandback } from '../db/federation-backups-repo.ts';
import { insertRemoteRental } from '../db/federation-rentals-repo.ts';
import { ledgerTotal } from '../db/ledger-repo.ts';
import type { DomainError } from '../domain/errors.ts';
import { balanceOf } from '../domain/money/ledger.ts';
import { chargeForMinutes } from '../domain/money/money.ts';
import { syncDevice } from '../domain/rentals/agent-sync.ts';
import { meterTick } from '../domain/rentals/meter-tick.ts';
import { createTestContext } from '../domain/test-context.ts';
import { FederationClient } from './federation-client.ts';
import { OriginRentals } from './origin-rentals.ts';
import { RemoteRentals } from './remote-rentals.ts';
import { RentalReports } from './rental-reports.ts';
import { ServerIdentity } from './server-key.ts';
import { objectSignatureValid, signObject } from './signed-objects.ts';

/**
 * A cross-server rental's money on two real databases (SQLite, or PostgreSQL with
 * `scripts/test --db both`): the device's server (B) makes the peer's rental, reports its
 * minutes signed and posts them; the renter's server (A) checks and posts each report once.
 * Neither can reach the other here (their client's fetch fails), so B's reports wait in its
 * queue and are handed to A's receiver as the route would.
 */
const price = 10_000n; // per hour, from the test market
const unreachable = (async () => {
  throw new Error('no network in this test');
}) as typeof fetch;

async function servers() {
  const tA = await createTestContext();
  const tB = await createTestContext();
  const idA = new ServerIdentity(mkdtempSync(join(tmpdir(), 'p2pvps-fed-a-')), tA.clock);
  const idB = new ServerIdentity(mkdtempSync(join(tmpdir(), 'p2pvps-fed-b-')), tB.clock);
  const signer = (id: ServerIdentity, url: string) => () => ({ url, keyId: id.key.id, sign: (d: Buffer) => id.sign(d) });
  const peerRow = (id: ServerIdentity, url: string, now: string): PeerRow => ({
    id: `peer${url.includes('//a') ? 'aaaa' : 'bbbb'}`,
    url,
    name: url,
    fingerprint: id.key.id,
    public_key: id.key.publicKey,
    state: 'active',
    fee_bps: 1000,
    linked_at: now,
    updated_at: now,
    last_sync_at: null,
    last_error: null,
  });
  const now = tA.clock.now().toISOString();
  const aAtB = peerRow(idA, 'http://a.test', now);
  const bAtA = peerRow(idB, 'http://b.test', now);
  await insertPeer(tB.ctx.db, aAtB);
  await insertPeer(tA.ctx.db, bAtA);
  const clientOf = (id: ServerIdentity, url: string, clock: typeof tA.clock) =>
    new FederationClient({ identity: id, ownUrl: url, clock, fetch: unreachable });
  const reports = new RentalReports({
    ctx: tB.ctx,
    client: clientOf(idB, 'http://b.test', tB.clock),
    signer: signer(idB, 'http://b.test'),
    reportEveryMinutes: 5,
  });
  const remote = new RemoteRentals({
    ctx: tA.ctx,
    client: clientOf(idA, 'http://a.test', tA.clock),
    signer: signer(idA, 'http://a.test'),
    feeBps: 500,
    guaranteeMs: 3_600_000,
  });
  return { tA, tB, idA, idB, aAtB, bAtA, reports, remote, origin: new OriginRentals(tB.ctx), signB: signer(idB, 'http://b.test') };
}

function offerFor(deviceId: string, clockNow: Date, over: Partial<RentalOffer> = {}): RentalOffer {
  return {
    requestId: 'reqfromaaaa1',
    deviceId,
    listingSignedAt: clockNow.toISOString(),
    pricePerHourMicros: Number(price),
    hours: null,
    renter: { handle: 'u1@a.test', sshPublicKey: null },
    guarantee: { maxMicros: String(price), validUntil: new Date(clockNow.getTime() + 3_600_000).toISOString() },
    ...over,
  };
}

test('a peer’s rental: B bills it by signed reports only, A posts each once, and the two accounts are opposite to the micro-unit', async () => {
  const s = await servers();
  const { tA, tB } = s;
  const owner = await tB.createUser('owner', 0n);
  const deviceId = await tB.createListedDevice(owner.id);

  // The offer: a changed price is refused, a repeated requestId finds the same rental.
  await assert.rejects(
    s.origin.acceptOffer(s.aAtB, offerFor(deviceId, tB.clock.now(), { pricePerHourMicros: 9_999 })),
    (err: DomainError) => err.code === 'federation_terms_changed',
  );
  const answer = await s.origin.acceptOffer(s.aAtB, offerFor(deviceId, tB.clock.now()));
  assert.equal((await s.origin.acceptOffer(s.aAtB, offerFor(deviceId, tB.clock.now()))).rentalId, answer.rentalId);
  assert.ok(answer.ssh.password.length > 10 && answer.ssh.username);
  await assert.rejects(
    s.origin.acceptOffer(s.aAtB, offerFor(deviceId, tB.clock.now(), { requestId: 'reqfromaaaa2' })),
    (err: DomainError) => err.code === 'federation_device_unavailable',
  );
  await syncDevice(tB.ctx, deviceId, { container: { rentalId: answer.rentalId, state: 'ready' } });

  // Six minutes: the ordinary meter leaves it alone; the report tick bills it, and queues the report (A is unreachable).
  tB.clock.advance(6 * 60_000);
  await meterTick(tB.ctx);
  assert.equal(await balanceOf(tB.ctx.db, { kind: 'owner_earnings', userId: owner.id }), 0n);
  await s.reports.tick();
  const queued = await tB.ctx.db.selectFrom('federation_usage').selectAll().execute();
  assert.equal(queued.length, 1);
  assert.equal(queued[0]!.ack_json, null, 'unacknowledged: it stays queued for A');
  const due = chargeForMinutes(price, 6n); // 1,000
  assert.equal(await balanceOf(tB.ctx.db, { kind: 'peer_account', peerId: s.aAtB.id }), -due);
  assert.equal(await balanceOf(tB.ctx.db, { kind: 'owner_earnings', userId: owner.id }), due - due / 10n);
  assert.equal(await balanceOf(tB.ctx.db, { kind: 'marketplace_fees' }), due / 10n);

  // A: its renter's remote rental, then B's report as the route hands it over.
  const renter = await tA.createUser('renter', 1_000_000n);
  await insertRemoteRental(tA.ctx.db, {
    id: 'reqfromaaaa1',
    renter_id: renter.id,
    peer_id: s.bAtA.id,
    remote_rental_id: answer.rentalId,
    device_id: deviceId,
    device_name: 'pi',
    state: 'active',
    end_reason: null,
    detail: null,
    price_per_hour_micros: price,
    fee_bps: 500,
    hours: null,
    username: answer.ssh.username,
    password_sealed: '',
    ssh_public_key: null,
    ssh_host: 'b.test',
    ssh_port: 2222,
    web_host: '',
    http_url: '',
    https_url: '',
    offer_json: '{}',
    state_seq: 1,
    billed_minutes: 0,
    charged_micros: 0,
    guarantee_until: null,
    backups_json: null,
    moved_json: null,
    end_requested: null,
    created_at: tA.clock.now().toISOString(),
    activated_at: null,
    ended_at: null,
  });
  const raw = JSON.parse(queued[0]!.report_json) as Record<string, unknown>;
  const report = UsageReport.parse(raw);
  assert.equal(report.previousHash, null);
  const ack = await s.remote.receiveUsage(s.bAtA, raw, report);
  assert.equal(ack.reportHash, queued[0]!.report_hash);
  assert.ok(objectSignatureValid(ack as unknown as Record<string, unknown>, { url: 'http://a.test', key: s.idA.key }), 'A signed the ack');
  // Delivered twice: the same ack, posted once.
  assert.deepEqual(await s.remote.receiveUsage(s.bAtA, raw, report), ack);
  assert.equal(await balanceOf(tA.ctx.db, { kind: 'peer_account', peerId: s.bAtA.id }), due);
  assert.equal(await balanceOf(tA.ctx.db, { kind: 'renter_balance', userId: renter.id }), 1_000_000n - due - due / 20n);
  assert.equal(await balanceOf(tA.ctx.db, { kind: 'marketplace_fees' }), due / 20n);
  assert.equal(
    await balanceOf(tA.ctx.db, { kind: 'peer_account', peerId: s.bAtA.id }),
    -(await balanceOf(tB.ctx.db, { kind: 'peer_account', peerId: s.aAtB.id })),
  );

  // What A refuses: a report that skips the chain, one whose amount is not what the minutes cost, one not signed by B.
  const { signature: _s, issuer: _i, keyId: _k, ...fields } = report;
  const next = { ...fields, seq: 2, from: report.to, minutes: 1, totalMinutes: 7, previousHash: ack.reportHash };
  const cost7 = chargeForMinutes(price, 7n);
  const skipped = signObject({ ...next, seq: 3, amountMicros: String(cost7 - due), totalMicros: String(cost7) }, s.signB());
  await assert.rejects(s.remote.receiveUsage(s.bAtA, skipped, skipped), (err: DomainError) => err.code === 'federation_usage_out_of_order');
  const overstated = signObject({ ...next, amountMicros: '500', totalMicros: String(due + 500n) }, s.signB());
  await assert.rejects(
    s.remote.receiveUsage(s.bAtA, overstated, overstated),
    (err: DomainError) => err.code === 'invalid_request' && /does not add up/.test(err.message),
  );
  const byA = signObject(
    { ...next, amountMicros: String(cost7 - due), totalMicros: String(cost7) },
    { url: 'http://b.test', keyId: s.idB.key.id, sign: (d) => s.idA.sign(d) },
  );
  await assert.rejects(s.remote.receiveUsage(s.bAtA, byA, byA), (err: DomainError) => err.code === 'federation_bad_signature');
  assert.equal(await balanceOf(tA.ctx.db, { kind: 'peer_account', peerId: s.bAtA.id }), due, 'nothing refused was posted');

  for (const t of [tA, tB]) assert.equal(await ledgerTotal(t.ctx.db), 0n);
  await tA.close();
  await tB.close();
});

test('B ends a pay-as-you-go peer rental when its guarantee runs out unrenewed', async () => {
  const s = await servers();
  const owner = await s.tB.createUser('owner', 0n);
  const deviceId = await s.tB.createListedDevice(owner.id);
  const answer = await s.origin.acceptOffer(s.aAtB, offerFor(deviceId, s.tB.clock.now()));
  await syncDevice(s.tB.ctx, deviceId, { container: { rentalId: answer.rentalId, state: 'ready' } });
  s.tB.clock.advance(30 * 60_000);
  await s.reports.tick();
  assert.equal(
    (await s.tB.ctx.db.selectFrom('rentals').select('state').where('id', '=', answer.rentalId).executeTakeFirst())?.state,
    'active',
  );
  await s.origin.guarantee(s.aAtB, answer.rentalId, {
    maxMicros: String(price),
    validUntil: new Date(s.tB.clock.now().getTime() + 60 * 60_000).toISOString(),
  });
  s.tB.clock.advance(61 * 60_000);
  await s.reports.tick();
  const row = await s.tB.ctx.db.selectFrom('rentals').selectAll().where('id', '=', answer.rentalId).executeTakeFirst();
  assert.equal(row?.state, 'ending');
  assert.equal(row?.end_reason, 'guarantee_expired');
  await s.tA.close();
  await s.tB.close();
});

test('the minutes a backup served a peer’s renter: B carries each hand-back into its report chain once, A charges the renter for them once, nothing is billed twice', async () => {
  const s = await servers();
  const { tA, tB } = s;
  const owner = await tB.createUser('owner', 0n);
  const deviceId = await tB.createListedDevice(owner.id);
  const answer = await s.origin.acceptOffer(s.aAtB, offerFor(deviceId, tB.clock.now()));
  await syncDevice(tB.ctx, deviceId, { container: { rentalId: answer.rentalId, state: 'ready' } });
  const t0 = tB.clock.now().getTime();
  const at = (minutes: number) => new Date(t0 + minutes * 60_000).toISOString();
  const cAtB: PeerRow = { ...s.aAtB, id: 'peercccc', url: 'http://c.test', name: 'http://c.test' };
  assert.equal(await insertPeer(tB.ctx.db, { ...cAtB, fingerprint: 'c'.repeat(43), public_key: s.idA.key.publicKey }), true);
  const handBack = (serviceId: string, from: number, to: number) =>
    insertHandback(tB.ctx.db, {
      peer_id: cAtB.id,
      service_id: serviceId,
      device_id: deviceId,
      rental_id: answer.rentalId,
      started_at: at(from),
      ended_at: at(to),
      minutes: to - from,
      amount_micros: String(chargeForMinutes(price, BigInt(to - from))),
      fee_bps: 2000,
      fee_micros: '0',
      handback_json: '{}',
      received_at: tB.clock.now().toISOString(),
    });
  const reportsAtB = async () =>
    (await tB.ctx.db.selectFrom('federation_usage').selectAll().orderBy('seq').execute()).map((u) => ({
      raw: JSON.parse(u.report_json) as Record<string, unknown>,
      report: UsageReport.parse(JSON.parse(u.report_json)),
    }));

  // B serves 6 minutes itself; then C serves minutes 6 to 10 (B away) and hands them back; B serves on to 12.
  tB.clock.advance(6 * 60_000);
  await s.reports.tick();
  tB.clock.advance(6 * 60_000);
  assert.equal(await handBack('svc1', 6, 10), true);
  assert.equal(await handBack('svc1', 6, 10), false, 'a repeated hand-back is not recorded again');
  await s.reports.tick();
  await s.reports.tick();
  let reports = await reportsAtB();
  assert.deepEqual(
    reports.map(({ report: r }) => [r.seq, r.servedBy, r.minutes, r.from, r.to]),
    [
      [1, 'http://b.test', 6, at(0), at(6)],
      [2, 'http://c.test', 4, at(6), at(10)],
      // B's own span from 6 to 12 less the 4 minutes C served: billed once, by C's report.
      [3, 'http://b.test', 2, at(6), at(12)],
    ],
  );
  assert.equal(reports[2]!.report.totalMicros, String(chargeForMinutes(price, 12n)));

  // B billed minutes 12 to 18 itself; a later hand-back claiming 12 to 14 carries nothing more.
  tB.clock.advance(6 * 60_000);
  await s.reports.tick();
  await handBack('svc2', 12, 14);
  await s.reports.tick();
  reports = await reportsAtB();
  assert.deepEqual(
    reports.map(({ report: r }) => [r.servedBy, r.minutes]),
    [
      ['http://b.test', 6],
      ['http://c.test', 4],
      ['http://b.test', 2],
      ['http://b.test', 6],
    ],
  );
  const carried = await tB.ctx.db
    .selectFrom('federation_backup_handbacks')
    .select(['service_id', 'carried_seq'])
    .orderBy('service_id')
    .execute();
  assert.deepEqual(
    carried.map((h) => [h.service_id, h.carried_seq]),
    [
      ['svc1', 2],
      ['svc2', 4],
    ],
  );
  const due = chargeForMinutes(price, 18n);
  assert.equal(await balanceOf(tB.ctx.db, { kind: 'peer_account', peerId: s.aAtB.id }), -due);
  assert.equal(await balanceOf(tB.ctx.db, { kind: 'owner_earnings', userId: owner.id }), due - due / 10n);

  // A takes the chain, C's report included (B's listing named C as its backup); a resent report is posted once.
  const renter = await tA.createUser('renter', 1_000_000n);
  await insertRemoteRental(tA.ctx.db, {
    ...remoteRentalFields,
    id: 'reqfromaaaa1',
    renter_id: renter.id,
    peer_id: s.bAtA.id,
    remote_rental_id: answer.rentalId,
    device_id: deviceId,
    backups_json: JSON.stringify(['http://c.test']),
    created_at: tA.clock.now().toISOString(),
  });
  for (const { raw, report } of reports) await s.remote.receiveUsage(s.bAtA, raw, report);
  await s.remote.receiveUsage(s.bAtA, reports[3]!.raw, reports[3]!.report);
  await assert.rejects(
    s.remote.receiveUsage(s.bAtA, reports[1]!.raw, reports[1]!.report),
    (err: DomainError) => err.code === 'federation_usage_out_of_order',
  );
  assert.equal(await balanceOf(tA.ctx.db, { kind: 'peer_account', peerId: s.bAtA.id }), due);
  assert.equal(await balanceOf(tA.ctx.db, { kind: 'renter_balance', userId: renter.id }), 1_000_000n - due - (due * 500n) / 10_000n);
  assert.equal(
    await balanceOf(tA.ctx.db, { kind: 'peer_account', peerId: s.bAtA.id }),
    -(await balanceOf(tB.ctx.db, { kind: 'peer_account', peerId: s.aAtB.id })),
  );

  // Minutes "served by" a server B's listing did not name as a backup are refused.
  const { signature: _s, issuer: _i, keyId: _k, ...fields } = reports[3]!.report;
  const total = chargeForMinutes(price, 19n);
  const byStranger = signObject(
    {
      ...fields,
      seq: 5,
      servedBy: 'http://d.test',
      minutes: 1,
      totalMinutes: 19,
      amountMicros: String(total - due),
      totalMicros: String(total),
      previousHash: (await tA.ctx.db.selectFrom('federation_usage').select('report_hash').where('seq', '=', 4).executeTakeFirstOrThrow())
        .report_hash,
    },
    s.signB(),
  );
  await assert.rejects(s.remote.receiveUsage(s.bAtA, byStranger, byStranger), (err: DomainError) => err.code === 'federation_not_backup');
  assert.equal(await balanceOf(tA.ctx.db, { kind: 'peer_account', peerId: s.bAtA.id }), due, 'nothing refused was posted');

  for (const t of [tA, tB]) assert.equal(await ledgerTotal(t.ctx.db), 0n);
  await tA.close();
  await tB.close();
});

/** A's remote rental of B's device, the fields the test above does not care about. */
const remoteRentalFields = {
  device_name: 'pi',
  state: 'active',
  end_reason: null,
  detail: null,
  price_per_hour_micros: price,
  fee_bps: 500,
  hours: null,
  username: 'u',
  password_sealed: '',
  ssh_public_key: null,
  ssh_host: 'b.test',
  ssh_port: 2222,
  web_host: '',
  http_url: '',
  https_url: '',
  offer_json: '{}',
  state_seq: 1,
  billed_minutes: 0,
  charged_micros: 0,
  guarantee_until: null,
  moved_json: null,
  end_requested: null,
  activated_at: null,
  ended_at: null,
} as const;
