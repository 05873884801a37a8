import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findRental } from '../../db/rentals-repo.ts';
import type { DomainError } from '../errors.ts';
import { syncDevice } from '../rentals/agent-sync.ts';
import { extendRental, rent } from '../rentals/rentals.ts';
import { createTestContext } from '../test-context.ts';
import { grantCredit } from './credit.ts';
import { reverseDeposit } from './deposit-reversal.ts';
import { balanceOf } from './ledger.ts';
import { meterTick } from '../rentals/meter-tick.ts';
import { chargeForMinutes, feeOf } from './money.ts';
import { ledgerTotal } from '../../db/ledger-repo.ts';

const minute = 60_000;
const price = 10_000n; // per hour, from the test market

/** Renter with `credit`, and `owners` owners with one listed device each (colluding or not: the books cannot tell). */
async function market(credit: bigint, owners = 1) {
  const t = await createTestContext();
  const renter = await t.createUser('renter', credit);
  const sellers: { owner: { id: string }; deviceId: string }[] = [];
  for (let i = 0; i < owners; i++) {
    const owner = await t.createUser('owner', 0n);
    sellers.push({ owner, deviceId: await t.createListedDevice(owner.id) });
  }
  const running = async (deviceId: string, hours?: number) => {
    const rental = await rent(t.ctx, renter.id, { deviceId, hours });
    await syncDevice(t.ctx, deviceId, { container: { rentalId: rental.id, state: 'ready' } });
    return rental;
  };
  const minutes = async (n: number) => {
    for (let i = 0; i < n; i++) {
      t.clock.advance(minute);
      await meterTick(t.ctx);
    }
  };
  const balance = () => balanceOf(t.ctx.db, { kind: 'renter_balance', userId: renter.id });
  const earnings = async () => {
    let sum = 0n;
    for (const s of sellers) sum += await balanceOf(t.ctx.db, { kind: 'owner_earnings', userId: s.owner.id });
    return sum;
  };
  const fees = () => balanceOf(t.ctx.db, { kind: 'marketplace_fees' });
  return { t, renter, sellers, running, minutes, balance, earnings, fees };
}

test("a renter's pay-as-you-go rentals are funded together: each new one needs the others' minimum hours too", async () => {
  const m = await market(price, 3); // one hour of one device
  await m.running(m.sellers[0]!.deviceId);
  await assert.rejects(rent(m.t.ctx, m.renter.id, { deviceId: m.sellers[1]!.deviceId }), (e: DomainError) => {
    assert.equal(e.code, 'insufficient_balance');
    assert.equal(
      e.message,
      'Renting this device needs a balance of at least 0.02 USD (0.01 USD, and 0.01 USD for 1 h of your 1 running pay-as-you-go rental); yours is 0.01 USD.',
    );
    return true;
  });
  await assert.rejects(rent(m.t.ctx, m.renter.id, { deviceId: m.sellers[1]!.deviceId, hours: 1 }), (e: DomainError) => {
    assert.equal(e.code, 'insufficient_balance', 'a prepaid term cannot take the money the running rental needs either');
    return true;
  });
  await grantCredit(m.t.ctx, m.renter.id, price, 'top-up');
  await m.running(m.sellers[1]!.deviceId);
  await assert.rejects(rent(m.t.ctx, m.renter.id, { deviceId: m.sellers[2]!.deviceId }), (e: DomainError) => {
    assert.match(
      e.message,
      /at least 0\.03 USD \(0\.01 USD, and 0\.02 USD for 1 h of your 2 running pay-as-you-go rentals\); yours is 0\.02 USD/,
    );
    return true;
  });
  await m.t.close();
});

test('extending a prepaid term also leaves the minimum hours of the running pay-as-you-go rentals', async () => {
  const m = await market(3n * price, 2);
  await m.running(m.sellers[0]!.deviceId);
  const prepaid = await m.running(m.sellers[1]!.deviceId, 1);
  await assert.rejects(extendRental(m.t.ctx, m.renter.id, prepaid.id, { hours: 2 }), (e: DomainError) => {
    assert.match(e.message, /^Adding 2 h needs a balance of at least 0\.03 USD/);
    return true;
  });
  await extendRental(m.t.ctx, m.renter.id, prepaid.id, { hours: 1 });
  assert.equal(await m.balance(), price, "the running rental's hour stays on the balance");
  await m.t.close();
});

test('parallel rentals of colluding owners cannot earn more than the renter paid in: charges stop at an empty balance', async () => {
  const m = await market(2n * price, 2); // exactly the minimum for two rentals
  const rentals = [await m.running(m.sellers[0]!.deviceId), await m.running(m.sellers[1]!.deviceId)];
  await m.minutes(90); // an hour of both is all the money; the grace runs out after 10 more minutes
  assert.equal(await m.balance(), 0n, 'never below zero');
  assert.equal((await m.earnings()) + (await m.fees()), 2n * price, 'owners and marketplace got exactly what came in');
  assert.equal(await m.fees(), feeOf(price, 1000n) * 2n);
  for (const r of rentals) {
    const row = await findRental(m.t.ctx.db, r.id);
    assert.equal(row?.end_reason, 'balance_exhausted');
    assert.equal(BigInt(row!.charged_micros), price, 'each collected its hour');
    assert.ok(row!.billed_minutes > 60, 'the minutes run on the empty balance were metered but not collected');
  }
  assert.equal(await ledgerTotal(m.t.ctx.db), 0n);
  await m.t.close();
});

test('the last charge takes what the balance holds, to the micro-unit, and the owner is credited from that', async () => {
  for (const credit of [price, price + 1n, price + 166n, price + 167n]) {
    const m = await market(credit);
    await m.running(m.sellers[0]!.deviceId);
    await m.minutes(60);
    const left = credit - price;
    assert.equal(await m.balance(), left);
    await m.minutes(1); // 166.67 due for the 61st minute (cumulatively: 10,166 for 61 minutes)
    const collected = credit < chargeForMinutes(price, 61n) ? credit : chargeForMinutes(price, 61n);
    assert.equal(await m.balance(), credit - collected, `credit ${credit}`);
    assert.equal((await m.earnings()) + (await m.fees()), collected);
    assert.equal(await m.fees(), feeOf(collected, 1000n), 'the fee is the share of what was collected, rounded down');
    await m.t.close();
  }
});

test('a top-up within the grace pays for the minutes run on the empty balance, and the rental runs on', async () => {
  const m = await market(price);
  const rental = await m.running(m.sellers[0]!.deviceId);
  await m.minutes(65);
  assert.equal(await m.balance(), 0n);
  assert.equal(BigInt((await findRental(m.t.ctx.db, rental.id))!.charged_micros), price, '5 minutes owed');
  await grantCredit(m.t.ctx, m.renter.id, 5n * price, 'top-up');
  await m.minutes(1);
  const row = await findRental(m.t.ctx.db, rental.id);
  assert.equal(BigInt(row!.charged_micros), chargeForMinutes(price, 66n), 'the owed minutes were collected with the next one');
  assert.equal(await m.balance(), 6n * price - chargeForMinutes(price, 66n));
  await m.minutes(30);
  assert.equal((await findRental(m.t.ctx.db, rental.id))?.state, 'active', 'the top-up stopped the grace clock');
  assert.equal((await m.earnings()) + (await m.fees()), chargeForMinutes(price, 96n));
  await m.t.close();
});

test('a refund or chargeback takes back what the balance holds; the marketplace bears what was already spent', async () => {
  const m = await market(price);
  const reversal = { userId: m.renter.id, rail: 'paypal', externalKey: 'paypal-refund:R1', memo: 'PayPal refund R1' };
  const first = await reverseDeposit(m.t.ctx, { ...reversal, amountMicros: 4_000n });
  assert.deepEqual(first, { applied: true, fromBalanceMicros: 4_000n, shortfallMicros: 0n, balanceMicros: 6_000n });
  const again = await reverseDeposit(m.t.ctx, { ...reversal, amountMicros: 4_000n });
  assert.equal(again.applied, false, 'a redelivered event changes nothing');
  assert.equal(await m.balance(), 6_000n);

  await grantCredit(m.t.ctx, m.renter.id, 4_000n, 'top-up');
  await m.running(m.sellers[0]!.deviceId);
  await m.minutes(30); // half of the money spent on the owner
  const chargeback = await reverseDeposit(m.t.ctx, { ...reversal, externalKey: 'paypal-reversal:C1', amountMicros: price });
  assert.deepEqual(chargeback, { applied: true, fromBalanceMicros: price / 2n, shortfallMicros: price / 2n, balanceMicros: 0n });
  assert.equal(await m.balance(), 0n, 'never below zero');
  assert.equal(await m.earnings(), price / 2n - feeOf(price / 2n, 1000n), 'the owner keeps what they earned: they delivered for it');
  assert.equal(await m.fees(), feeOf(price / 2n, 1000n) - price / 2n, 'the marketplace bears the spent part');
  assert.equal(await balanceOf(m.t.ctx.db, { kind: 'rail_clearing', rail: 'paypal' }), 4_000n + price);
  assert.equal(await ledgerTotal(m.t.ctx.db), 0n);
  await m.t.close();
});
