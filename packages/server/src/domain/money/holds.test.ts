import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findRental, meteredRentals } from '../../db/rentals-repo.ts';
import type { DomainError } from '../errors.ts';
import { syncDevice } from '../rentals/agent-sync.ts';
import { endExpiredRentals, extendRental, rent, stopRental } from '../rentals/rentals.ts';
import { createTestContext } from '../test-context.ts';
import { accountKey, balanceOf } from './ledger.ts';
import { meterTick } from '../rentals/meter-tick.ts';
import { chargeForMinutes } from './money.ts';
import { ledgerTotal } from '../../db/ledger-repo.ts';

const minute = 60_000;
const price = 10_000n; // per hour, from the test market

/** A renter with `credit`, a prepaid rental of `hours` on a listed device, running. */
async function prepaid(hours: number, credit = 100_000n) {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const renter = await t.createUser('renter', credit);
  const deviceId = await t.createListedDevice(owner.id);
  const rental = await rent(t.ctx, renter.id, { deviceId, hours });
  const balance = () => balanceOf(t.ctx.db, { kind: 'renter_balance', userId: renter.id });
  const held = () => balanceOf(t.ctx.db, { kind: 'rental_hold', userId: renter.id, rentalId: rental.id });
  const earnings = () => balanceOf(t.ctx.db, { kind: 'owner_earnings', userId: owner.id });
  const minutes = async (n: number) => {
    for (let i = 0; i < n; i++) {
      t.clock.advance(minute);
      await meterTick(t.ctx);
      await endExpiredRentals(t.ctx);
    }
  };
  return { t, owner, renter, deviceId, rental, balance, held, earnings, minutes };
}

test('renting for N hours holds N hours of the price, and needs them on the balance', async () => {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const renter = await t.createUser('renter', 25_000n);
  const deviceId = await t.createListedDevice(owner.id);
  await assert.rejects(rent(t.ctx, renter.id, { deviceId, hours: 3 }), (e: DomainError) => {
    assert.equal(e.code, 'insufficient_balance');
    assert.match(e.message, /3 h of this device needs a balance of at least 0\.03 USD; yours is 0\.03 USD/);
    return true;
  });
  const rental = await rent(t.ctx, renter.id, { deviceId, hours: 2 });
  assert.equal(await balanceOf(t.ctx.db, { kind: 'renter_balance', userId: renter.id }), 5_000n);
  assert.equal(await balanceOf(t.ctx.db, { kind: 'rental_hold', userId: renter.id, rentalId: rental.id }), 20_000n);
  assert.equal(await ledgerTotal(t.ctx.db), 0n);
  await t.close();
});

test('a prepaid term used to its end is charged from the hold, exactly the price of its hours', async () => {
  const p = await prepaid(2);
  await syncDevice(p.t.ctx, p.deviceId, { container: { rentalId: p.rental.id, state: 'ready' } });
  await p.minutes(125);
  const row = await findRental(p.t.ctx.db, p.rental.id);
  assert.equal(row?.state, 'ending');
  assert.equal(row?.end_reason, 'expired');
  assert.equal(row?.billed_minutes, 120, 'never billed past the term');
  assert.equal(await p.held(), 0n);
  assert.equal(await p.balance(), 100_000n - 2n * price, 'the balance was not charged on top');
  assert.equal(await p.earnings(), 2n * price - (2n * price) / 10n);
  assert.equal(await ledgerTotal(p.t.ctx.db), 0n);
  await p.t.close();
});

test('a device lost past the grace ends the rental as device_lost and returns the unused time', async () => {
  const p = await prepaid(4);
  await syncDevice(p.t.ctx, p.deviceId, { container: { rentalId: p.rental.id, state: 'ready' } });
  await p.minutes(60);
  p.t.online.delete(p.deviceId);
  await p.minutes(29);
  assert.equal((await findRental(p.t.ctx.db, p.rental.id))?.state, 'active', 'still within the grace');
  await p.minutes(1);
  const row = await findRental(p.t.ctx.db, p.rental.id);
  assert.equal(row?.state, 'ending');
  assert.equal(row?.end_reason, 'device_lost');
  assert.equal(row?.billed_minutes, 60, 'the minutes offline were not billed');
  assert.equal(await p.held(), 0n);
  assert.equal(await p.balance(), 100_000n - price, 'three of the four hours came back');
  assert.equal(await ledgerTotal(p.t.ctx.db), 0n);
  await p.t.close();
});

test('a renter who stops early pays for the term they gave up, but not for minutes the device was offline', async () => {
  const p = await prepaid(3);
  await syncDevice(p.t.ctx, p.deviceId, { container: { rentalId: p.rental.id, state: 'ready' } });
  await p.minutes(30);
  p.t.online.delete(p.deviceId);
  await p.minutes(20);
  p.t.online.add(p.deviceId);
  await p.minutes(10);
  await stopRental(p.t.ctx, p.renter.id, p.rental.id);
  const row = await findRental(p.t.ctx.db, p.rental.id);
  assert.equal(row?.end_reason, 'renter_stopped');
  // 40 minutes used, 120 given up, 20 offline returned.
  assert.equal(row?.billed_minutes, 160);
  assert.equal(BigInt(row!.charged_micros), chargeForMinutes(price, 160n));
  assert.equal(await p.held(), 0n);
  assert.equal(await p.balance(), 100_000n - chargeForMinutes(price, 160n));
  assert.equal(await ledgerTotal(p.t.ctx.db), 0n);
  await p.t.close();
});

test('a prepaid rental whose container never started returns the whole hold', async () => {
  const p = await prepaid(2);
  await syncDevice(p.t.ctx, p.deviceId, { container: { rentalId: p.rental.id, state: 'failed', detail: 'no image' } });
  const row = await findRental(p.t.ctx.db, p.rental.id);
  assert.equal(row?.end_reason, 'provisioning_failed');
  assert.equal(await p.held(), 0n);
  assert.equal(await p.balance(), 100_000n);
  assert.equal(await ledgerTotal(p.t.ctx.db), 0n);
  await p.t.close();
});

test('the meter finds the accounts it posts to by the same keys the ledger gives them, for both kinds of rental', async () => {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const renter = await t.createUser('renter', 100_000n);
  const accountOf = async (ref: Parameters<typeof balanceOf>[1]) =>
    (await t.ctx.db.selectFrom('ledger_accounts').select('id').where('key', '=', accountKey(ref)).executeTakeFirstOrThrow()).id;
  for (const hours of [undefined, 2]) {
    const deviceId = await t.createListedDevice(owner.id);
    const rental = await rent(t.ctx, renter.id, { deviceId, hours });
    await syncDevice(t.ctx, deviceId, { container: { rentalId: rental.id, state: 'ready' } });
    t.clock.advance(minute);
    await meterTick(t.ctx); // the owner's earnings account exists from the first charge on
    const row = await meteredRentals(t.ctx.db).where('rentals.id', '=', rental.id).executeTakeFirstOrThrow();
    const paying = hours
      ? { kind: 'rental_hold' as const, userId: renter.id, rentalId: rental.id }
      : { kind: 'renter_balance' as const, userId: renter.id };
    assert.equal(row.paying_account_id, await accountOf(paying));
    assert.equal(row.owner_account_id, await accountOf({ kind: 'owner_earnings', userId: owner.id }));
  }
  await t.close();
});

/** A renter with 100 units, a 1-hour prepaid term at `pricePerHour` on a listed device, active. */
async function term(pricePerHour: bigint, hours = 1) {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const renter = await t.createUser('renter', 100_000_000n);
  const deviceId = await t.createListedDevice(owner.id);
  await t.ctx.db
    .updateTable('devices')
    .set({ price_per_hour_micros: Number(pricePerHour) })
    .where('id', '=', deviceId)
    .execute();
  const rental = await rent(t.ctx, renter.id, { deviceId, hours });
  await syncDevice(t.ctx, deviceId, { container: { rentalId: rental.id, state: 'ready' } });
  const spent = async () => 100_000_000n - (await balanceOf(t.ctx.db, { kind: 'renter_balance', userId: renter.id }));
  const held = () => balanceOf(t.ctx.db, { kind: 'rental_hold', userId: renter.id, rentalId: rental.id });
  const tick = async (ms: number) => {
    t.clock.advance(ms);
    await meterTick(t.ctx);
  };
  return { t, renter, deviceId, rental, spent, held, tick };
}

test('a prepaid term stopped early costs exactly its price, whatever the millisecond it is stopped', async () => {
  // Before: the minutes used and the minutes given up were each rounded down, so a 1-hour term
  // at 3.00 stopped after 90 s cost 59 minutes (2.95) and 0.05 came back.
  for (const after of [0, 1, 59_999, minute, minute + 1, 90_000, 30 * minute + 30_000, 60 * minute - 1]) {
    const p = await term(3_000_000n);
    await p.tick(after);
    await stopRental(p.t.ctx, p.renter.id, p.rental.id);
    assert.equal(await p.spent(), 3_000_000n, `stopped after ${after} ms`);
    assert.equal(await p.held(), 0n);
    const row = await findRental(p.t.ctx.db, p.rental.id);
    assert.equal(row?.billed_minutes, 60);
    assert.equal(BigInt(row!.charged_micros), 3_000_000n);
    assert.equal(BigInt(row!.fee_micros), 300_000n);
    assert.equal(await ledgerTotal(p.t.ctx.db), 0n);
    await p.t.close();
  }
});

test('a term extended and then stopped early costs the price of all its hours; one at a price not divisible by 60 too', async () => {
  const p = await term(10_001n);
  await p.tick(7 * minute + 13_000);
  await extendRental(p.t.ctx, p.renter.id, p.rental.id, { hours: 2 });
  await p.tick(61_000);
  await stopRental(p.t.ctx, p.renter.id, p.rental.id);
  assert.equal(await p.spent(), 3n * 10_001n);
  assert.equal(await p.held(), 0n);
  await p.t.close();
});

test('minutes offline in a term stopped early come back exactly: the charge is what the online minutes come to, rounded down once', async () => {
  const p = await term(10_001n);
  await p.tick(10 * minute + 20_000); // 10 minutes billed, 20 s carried
  p.t.online.delete(p.deviceId);
  await p.tick(7 * minute); // 7 minutes offline: billing moves on without charging them
  p.t.online.add(p.deviceId);
  await p.tick(30_000);
  await stopRental(p.t.ctx, p.renter.id, p.rental.id);
  const charged = chargeForMinutes(10_001n, 53n); // 60 - 7, one floor over the whole term
  assert.equal(charged, 8_834n);
  assert.equal(await p.spent(), charged);
  assert.equal(await p.held(), 0n, 'the 7 offline minutes (1,167) went back to the balance');
  await p.t.close();
});

test('the meter bills whole minutes: 59.999 s bills nothing, 60 s one minute, and the rounding is one floor over the running total', async () => {
  const p = await term(10_001n, 2);
  await p.tick(59_999);
  assert.equal(await p.held(), 2n * 10_001n, 'nothing billed before a whole minute');
  await p.tick(1);
  const row1 = await findRental(p.t.ctx.db, p.rental.id);
  assert.equal(row1?.billed_minutes, 1);
  assert.equal(BigInt(row1!.charged_micros), 166n, '10,001 / 60 rounded down');
  for (let i = 0; i < 6; i++) await p.tick(minute);
  const row7 = await findRental(p.t.ctx.db, p.rental.id);
  assert.equal(BigInt(row7!.charged_micros), 1_166n, 'seven minutes: 70,007 / 60 = 1,166.78, not 7 × 166 = 1,162');
  assert.equal(BigInt(row7!.fee_micros), 116n, 'the fee is 10% of the total, rounded down once');
  await p.t.close();
});

test('a term used to its last millisecond costs its price; the meter never bills past its end', async () => {
  const p = await term(10_001n);
  await p.tick(60 * minute - 1);
  assert.equal((await findRental(p.t.ctx.db, p.rental.id))?.billed_minutes, 59);
  await p.tick(1);
  await p.tick(5 * minute);
  assert.equal((await findRental(p.t.ctx.db, p.rental.id))?.billed_minutes, 60);
  assert.equal(await p.held(), 0n, 'the hold is exactly the price: nothing is left over');
  assert.equal(await endExpiredRentals(p.t.ctx), 1);
  assert.equal(await p.spent(), 10_001n);
  await p.t.close();
});
