import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DomainError } from '../errors.ts';
import { queueEndingSoonNotices, queueRentalEnded } from '../mail/notices.ts';
import { balanceOf } from '../money/ledger.ts';
import { meterTick } from './meter-tick.ts';
import { createTestContext } from '../test-context.ts';
import { syncDevice } from './agent-sync.ts';
import { endExpiredRentals, extendRental, getRental, rent } from './rentals.ts';

const minute = 60_000;
const hour = 60 * minute;
const price = 10_000n; // per hour, from the test market

/** A running prepaid rental of `hours` with auto-renew as given, its renter holding `credit`; the clock moves a minute at a time as the workers run. */
async function running(hours: number, credit: bigint, autoRenew = true) {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const renter = await t.createUser('renter', credit);
  const deviceId = await t.createListedDevice(owner.id);
  const rental = await rent(t.ctx, renter.id, { deviceId, hours, autoRenew });
  await syncDevice(t.ctx, deviceId, { container: { rentalId: rental.id, state: 'ready' } });
  const minutes = async (n: number) => {
    for (let i = 0; i < n; i++) {
      t.clock.advance(minute);
      await meterTick(t.ctx);
      await endExpiredRentals(t.ctx);
    }
  };
  const balance = () => balanceOf(t.ctx.db, { kind: 'renter_balance', userId: renter.id });
  const view = () => getRental(t.ctx, renter.id, rental.id);
  return { t, renter, deviceId, rental, minutes, balance, view };
}

test('with auto-renew and enough credit, a prepaid rental keeps running past its end, renewed for its term from the balance', async () => {
  const r = await running(2, 5n * price);
  assert.equal((await r.view()).autoRenew, true);
  const firstEnd = Date.parse((await r.view()).expiresAt!);
  assert.equal(await r.balance(), 3n * price, 'the first term is held at rent');

  // The reminder says it renews, not that it ends.
  r.t.clock.advance(firstEnd - 20 * minute - r.t.clock.now().getTime());
  assert.equal(await queueEndingSoonNotices(r.t.ctx), 1);
  const reminder = await r.t.ctx.db
    .selectFrom('mail_messages')
    .selectAll()
    .where('kind', '=', 'rental_ending_soon')
    .executeTakeFirstOrThrow();
  assert.match(reminder.subject, /renews in 20 min/);
  assert.match(reminder.text_body, /renews itself at .* for another 2 h, paid from your balance then/);

  await r.minutes(25);
  const renewed = await r.view();
  assert.equal(renewed.state, 'active', 'still running past the first end');
  assert.equal(Date.parse(renewed.expiresAt!), firstEnd + 2 * hour, 'for the same term again');
  assert.equal(renewed.prepaidHours, 4);
  assert.equal(await r.balance(), 1n * price, "the second term's price came from the balance");
  const reply = await syncDevice(r.t.ctx, r.deviceId, { container: { rentalId: r.rental.id, state: 'ready' } });
  assert.equal(reply.rental?.expiresAt, renewed.expiresAt, 'the agent learns the new expiry');
  assert.ok(
    r.t.nudges.some((n) => n.reason === 'rental_renewed'),
    'and is told at once',
  );

  // Two hours on, the balance (1 h) no longer covers a term: it ends as any expired rental does.
  await r.minutes(2 * 60 + 1);
  const ended = await r.view();
  assert.equal(ended.state, 'ending');
  assert.equal(ended.endReason, 'expired');
  assert.match(ended.detail ?? '', /^Not renewed: Renewing for 2 h needs a balance of at least 0\.02 USD; yours is 0\.01 USD\.$/);
  assert.equal(await r.balance(), 1n * price, 'nothing taken for a renewal that did not happen');
});

test('without credit for another term, an auto-renewing rental ends at its expiry and the renter is mailed why', async () => {
  const r = await running(1, 1n * price);
  await r.minutes(61);
  const ended = await r.view();
  assert.equal(ended.state, 'ending');
  assert.equal(ended.endReason, 'expired');
  assert.match(ended.detail ?? '', /^Not renewed: Renewing for 1 h needs a balance of at least 0\.01 USD; yours is 0\.00 USD\.$/);
  assert.equal(await queueRentalEnded(r.t.ctx, r.rental.id), true);
  const mail = await r.t.ctx.db.selectFrom('mail_messages').selectAll().where('kind', '=', 'rental_ended').executeTakeFirstOrThrow();
  assert.match(mail.text_body, /has ended because its prepaid time ran out\./);
  assert.match(
    mail.text_body,
    /It was set to renew itself, but could not: Renewing for 1 h needs a balance of at least 0\.01 USD; yours is 0\.00 USD\./,
  );
});

test('turning auto-renew off stops renewal; turning it on later renews again', async () => {
  const r = await running(1, 10n * price);
  await extendRental(r.t.ctx, r.renter.id, r.rental.id, { autoRenew: false });
  assert.equal((await r.view()).autoRenew, false);
  await r.minutes(61);
  const ended = await r.view();
  assert.equal(ended.state, 'ending');
  assert.equal(ended.endReason, 'expired');
  assert.equal(ended.detail, null);
  assert.equal(await r.balance(), 9n * price, 'no renewal was paid for');

  const again = await running(1, 10n * price, false);
  assert.equal((await again.view()).autoRenew, false);
  await extendRental(again.t.ctx, again.renter.id, again.rental.id, { autoRenew: true });
  await again.minutes(61);
  assert.equal((await again.view()).state, 'active', 'renewed once turned on');
});

test('auto-renew is only for prepaid rentals, and extend needs something to do', async () => {
  const t = await createTestContext();
  const { renter, deviceId } = await t.createMarket();
  await assert.rejects(rent(t.ctx, renter.id, { deviceId, autoRenew: true }), (e: DomainError) => {
    assert.equal(e.code, 'invalid_request');
    assert.deepEqual(e.fields, { 'body.autoRenew': 'needs hours' });
    return true;
  });
  const payg = await rent(t.ctx, renter.id, { deviceId });
  await assert.rejects(extendRental(t.ctx, renter.id, payg.id, { autoRenew: true }), /nothing to extend/);
  await assert.rejects(extendRental(t.ctx, renter.id, payg.id, {}), /Say how many hours to add/);
});
