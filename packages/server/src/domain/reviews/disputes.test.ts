import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addRentalTraffic } from '../../db/devices-repo.ts';
import { DomainError } from '../errors.ts';
import { balanceOf } from '../money/ledger.ts';
import { earningsOf, requestPayout } from '../money/payouts.ts';
import { createTestContext } from '../test-context.ts';
import { syncDevice } from '../rentals/agent-sync.ts';
import { recordDeviceTunnel } from '../rentals/rental-log.ts';
import { stopRental } from '../rentals/rentals.ts';
import { disputeWindowMs, openDispute, operatorDispute, operatorDisputes, renterDisputes, resolveDispute } from './disputes.ts';
import { driftedAccounts, ledgerTotal } from '../../db/ledger-repo.ts';

const minute = 60_000;
const code = (c: string) => (e: unknown) => e instanceof DomainError && e.code === c;

test('a renter disputes a running rental once; another renter cannot dispute it', async () => {
  const t = await createTestContext();
  const { renter, rental } = await t.createRunningRental();
  const dispute = await openDispute(t.ctx, renter.id, rental.id, 'The container restarts every few minutes.');
  assert.equal(dispute.state, 'open');
  assert.equal(dispute.reason, 'The container restarts every few minutes.');
  await assert.rejects(openDispute(t.ctx, renter.id, rental.id, 'Again'), code('dispute_exists'));
  const stranger = await t.createUser('renter');
  await assert.rejects(openDispute(t.ctx, stranger.id, rental.id, 'Me too'), code('not_found'));
  assert.deepEqual(
    (await renterDisputes(t.ctx, renter.id)).map((d) => d.id),
    [dispute.id],
  );
  assert.deepEqual(await renterDisputes(t.ctx, stranger.id), []);
  await t.close();
});

test('a rental can be disputed up to 14 days after it ended, not a millisecond later', async () => {
  const t = await createTestContext();
  const { renter, deviceId, rental } = await t.createRunningRental();
  t.clock.advance(60 * minute);
  await stopRental(t.ctx, renter.id, rental.id);
  await syncDevice(t.ctx, deviceId, { container: null });
  t.clock.advance(disputeWindowMs + 1);
  await assert.rejects(openDispute(t.ctx, renter.id, rental.id, 'Late'), code('dispute_window_closed'));
  t.clock.advance(-1);
  assert.equal((await openDispute(t.ctx, renter.id, rental.id, 'Just in time')).state, 'open');
  await t.close();
});

test('the operator sees the rental facts: times, end, uptime from its log, traffic and what was paid', async () => {
  const t = await createTestContext();
  const { renter, deviceId, rental } = await t.createRunningRental();
  const started = t.clock.now().toISOString();
  t.clock.advance(20 * minute);
  await recordDeviceTunnel(t.ctx.db, deviceId, false, t.clock.now().toISOString());
  t.clock.advance(10 * minute);
  await recordDeviceTunnel(t.ctx.db, deviceId, true, t.clock.now().toISOString());
  t.clock.advance(70 * minute);
  await addRentalTraffic(t.ctx.db, rental.id, 12_345, 67_890);
  await stopRental(t.ctx, renter.id, rental.id);
  await syncDevice(t.ctx, deviceId, { container: null });
  const dispute = await openDispute(t.ctx, renter.id, rental.id, 'It was down for ten minutes.');

  const facts = await operatorDispute(t.ctx, dispute.id);
  assert.match(facts.renterEmail, /^renter\d+@example.org$/);
  assert.match(facts.ownerEmail, /^owner\d+@example.org$/);
  assert.equal(facts.rental.activatedAt, started);
  assert.equal(facts.rental.endReason, 'renter_stopped');
  assert.equal(facts.rental.offlineMinutes, 10);
  assert.equal(facts.rental.uptimePercent, 90, '10 of 100 minutes away');
  assert.equal(facts.rental.bytesIn, 12_345);
  assert.equal(facts.rental.bytesOut, 67_890);
  // The test meter did not run: the stop billed all 100 minutes at 0.01 USD an hour.
  assert.equal(facts.rental.paidMicros, 16_666);
  assert.deepEqual(
    facts.events.map((e) => [e.kind, e.detail]),
    [
      ['requested', null],
      ['container_started', null],
      ['device_offline', null],
      ['device_online', null],
      ['ending', 'renter_stopped'],
      ['container_removed', null],
    ],
  );
  assert.deepEqual(
    (await operatorDisputes(t.ctx, 'open')).map((d) => d.id),
    [dispute.id],
  );
  await t.close();
});

test('a partial refund moves money from the owner and the marketplace, in their shares, to the renter; the ledger stays balanced', async () => {
  const t = await createTestContext();
  const { owner, renter, deviceId, rental } = await t.createRunningRental();
  t.clock.advance(600 * minute);
  await stopRental(t.ctx, renter.id, rental.id);
  await syncDevice(t.ctx, deviceId, { container: null });
  // 10 h at 0.01 USD: 100,000 paid; the owner earned 90,000 and the marketplace's fee is 10,000.
  const balance = () => balanceOf(t.ctx.db, { kind: 'renter_balance', userId: renter.id });
  const earnings = () => balanceOf(t.ctx.db, { kind: 'owner_earnings', userId: owner.id });
  const fees = () => balanceOf(t.ctx.db, { kind: 'marketplace_fees' });
  const before = { balance: await balance(), earnings: await earnings(), fees: await fees() };
  assert.equal(before.earnings, 90_000n);

  const dispute = await openDispute(t.ctx, renter.id, rental.id, 'Half the time it was unreachable.');
  await assert.rejects(
    resolveDispute(t.ctx, dispute.id, { outcome: 'refund', refundMicros: 100_001, note: '' }),
    code('refund_exceeds_paid'),
  );
  const resolved = await resolveDispute(t.ctx, dispute.id, { outcome: 'refund', refundMicros: 40_000, note: 'Half of the outage.' });
  assert.equal(resolved.state, 'refunded');
  assert.equal(resolved.refundMicros, 40_000);
  assert.equal(await balance(), before.balance + 40_000n);
  assert.equal(await earnings(), before.earnings - 36_000n);
  assert.equal(await fees(), before.fees - 4_000n);
  assert.equal(await ledgerTotal(t.ctx.db), 0n);
  assert.deepEqual(await driftedAccounts(t.ctx.db), []);
  const earned = await earningsOf(t.ctx, owner.id);
  assert.equal(earned.rentals[0]?.earnedMicros, 54_000n, "the rental's earnings show what the refund took back");
  assert.equal(earned.availableMicros, 54_000n);

  await assert.rejects(resolveDispute(t.ctx, dispute.id, { outcome: 'reject', note: 'No' }), code('dispute_not_open'));
  assert.equal(await balance(), before.balance + 40_000n, 'a second decision changes nothing');

  // The renter sees the outcome, and is mailed it once.
  assert.equal((await renterDisputes(t.ctx, renter.id))[0]?.note, 'Half of the outage.');
  const mails = await t.ctx.db.selectFrom('mail_messages').selectAll().where('kind', '=', 'dispute_resolved').execute();
  assert.equal(mails.length, 1);
  assert.match(mails[0]!.text_body, /refunded 0\.04 USD to your balance/);
  assert.match(mails[0]!.text_body, /Their note: Half of the outage\./);
  await t.close();
});

test('when the owner was already paid out, the marketplace bears the part their earnings no longer hold', async () => {
  const t = await createTestContext();
  const { owner, renter, deviceId, rental } = await t.createRunningRental();
  t.clock.advance(600 * minute);
  await stopRental(t.ctx, renter.id, rental.id);
  await syncDevice(t.ctx, deviceId, { container: null });
  await requestPayout(t.ctx, owner.id, 80_000n, 'bank');
  const fees = await balanceOf(t.ctx.db, { kind: 'marketplace_fees' });
  const dispute = await openDispute(t.ctx, renter.id, rental.id, 'Never worked.');
  await resolveDispute(t.ctx, dispute.id, { outcome: 'refund', refundMicros: 100_000, note: '' });
  assert.equal(await balanceOf(t.ctx.db, { kind: 'owner_earnings', userId: owner.id }), 0n, 'never below zero');
  assert.equal(await balanceOf(t.ctx.db, { kind: 'marketplace_fees' }), fees - 90_000n, 'its fee and the 80,000 paid out');
  assert.equal(await ledgerTotal(t.ctx.db), 0n);
  await t.close();
});

test('a rejection takes a note, moves no money, and tells the renter', async () => {
  const t = await createTestContext();
  const { renter, rental } = await t.createRunningRental();
  t.clock.advance(60 * minute);
  await stopRental(t.ctx, renter.id, rental.id);
  const before = await balanceOf(t.ctx.db, { kind: 'renter_balance', userId: renter.id });
  const dispute = await openDispute(t.ctx, renter.id, rental.id, 'Slow.');
  const rejected = await resolveDispute(t.ctx, dispute.id, { outcome: 'reject', note: 'It ran as listed; the log shows no outage.' });
  assert.equal(rejected.state, 'rejected');
  assert.equal(await balanceOf(t.ctx.db, { kind: 'renter_balance', userId: renter.id }), before);
  const mail = await t.ctx.db.selectFrom('mail_messages').selectAll().where('kind', '=', 'dispute_resolved').executeTakeFirst();
  assert.match(mail!.subject, /was not upheld/);
  await t.close();
});
