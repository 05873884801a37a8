import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { findRental } from '../../db/rentals-repo.ts';
import { DomainError } from '../errors.ts';
import { syncDevice } from '../rentals/agent-sync.ts';
import { endExpiredRentals, rent, stopRental } from '../rentals/rentals.ts';
import { createTestContext } from '../test-context.ts';
import { grantCredit } from './credit.ts';
import { balanceOf, driftedAccounts, ledgerTotal, post } from './ledger.ts';
import { meterTick } from './metering.ts';
import { chargeForMinutes, feeOf } from './money.ts';

const minute = 60_000;

test('a transaction that does not balance is refused, and a payment event applies once', async () => {
  const t = await createTestContext();
  const user = await t.createUser('renter', 0n);
  const at = t.clock.now().toISOString();
  await assert.rejects(
    post(t.ctx.db, { kind: 'deposit', memo: 'x', at, postings: [{ kind: 'renter_balance', userId: user.id, amount: 5n }] }),
  );
  const deposit = { kind: 'deposit' as const, memo: 'paypal capture', at, externalKey: 'paypal:CAP-1' };
  const postings = [
    { kind: 'rail_clearing' as const, rail: 'paypal', amount: -5_000_000n },
    { kind: 'renter_balance' as const, userId: user.id, amount: 5_000_000n },
  ];
  assert.ok(await post(t.ctx.db, { ...deposit, postings }));
  assert.equal(await post(t.ctx.db, { ...deposit, postings }), null, 'redelivered: not applied again');
  assert.equal(await balanceOf(t.ctx.db, { kind: 'renter_balance', userId: user.id }), 5_000_000n);
  assert.equal(await ledgerTotal(t.ctx.db), 0n);
  await t.close();
});

test('renting needs an hour of the price on the balance; the operator can grant and take back credit', async () => {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const renter = await t.createUser('renter', 0n);
  const deviceId = await t.createListedDevice(owner.id);
  await assert.rejects(rent(t.ctx, renter.id, { deviceId }), (e: DomainError) => e.code === 'insufficient_balance');
  await grantCredit(t.ctx, renter.id, 9_999n, 'not quite an hour');
  await assert.rejects(rent(t.ctx, renter.id, { deviceId }), (e: DomainError) => e.code === 'insufficient_balance');
  await grantCredit(t.ctx, renter.id, 1n, '');
  await rent(t.ctx, renter.id, { deviceId });
  await assert.rejects(grantCredit(t.ctx, renter.id, -10_001n, 'too much'), (e: DomainError) => e.code === 'insufficient_balance');
  assert.equal(await grantCredit(t.ctx, renter.id, -10_000n, 'all of it'), 0n);
  assert.equal(await ledgerTotal(t.ctx.db), 0n);
  await t.close();
});

test('hours of use are charged per minute; the owner gets the charge minus 10%; offline minutes are free', async () => {
  const t = await createTestContext();
  const { owner, renter, deviceId, rental } = await t.createRunningRental();
  const price = 10_000n; // per hour, from the test market
  for (let i = 0; i < 90; i++) {
    t.clock.advance(minute);
    await meterTick(t.ctx);
  }
  t.online.delete(deviceId); // the device drops out for just under the half hour that would end the rental
  for (let i = 0; i < 29; i++) {
    t.clock.advance(minute);
    await meterTick(t.ctx);
  }
  t.online.add(deviceId);
  t.clock.advance(30 * minute + 59_000); // and is back: 30 more billed minutes, the odd seconds carried
  await meterTick(t.ctx);
  const row = await findRental(t.ctx.db, rental.id);
  assert.equal(row?.billed_minutes, 120);
  const charged = chargeForMinutes(price, 120n);
  assert.equal(BigInt(row?.charged_micros ?? 0), charged);
  assert.equal(charged, 20_000n, 'two hours at 0.01/h');
  const fee = feeOf(charged, 1000n);
  assert.equal(await balanceOf(t.ctx.db, { kind: 'renter_balance', userId: renter.id }), 1_000_000_000n - charged);
  assert.equal(await balanceOf(t.ctx.db, { kind: 'owner_earnings', userId: owner.id }), charged - fee);
  assert.equal(await balanceOf(t.ctx.db, { kind: 'marketplace_fees' }), fee);
  assert.equal(await ledgerTotal(t.ctx.db), 0n);
  await t.close();
});

test('a rental whose balance runs out ends with balance_exhausted after the grace, never silently', async () => {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const renter = await t.createUser('renter', 10_000n); // exactly one hour
  const deviceId = await t.createListedDevice(owner.id);
  const warned: string[] = [];
  t.ctx.notifyUser = (userId, event) => void warned.push(`${userId} ${event}`);
  const rental = await rent(t.ctx, renter.id, { deviceId });
  await syncDevice(t.ctx, deviceId, { container: { rentalId: rental.id, state: 'ready' } });
  const minutes = async (n: number) => {
    for (let i = 0; i < n; i++) {
      t.clock.advance(minute);
      await meterTick(t.ctx);
    }
  };
  await minutes(30);
  assert.deepEqual(warned, [], 'half an hour left is not yet low');
  await minutes(1);
  assert.deepEqual(warned, [`${renter.id} balance_low`], 'warned when less than half an hour is left');
  await minutes(29);
  assert.equal(await balanceOf(t.ctx.db, { kind: 'renter_balance', userId: renter.id }), 0n);
  assert.deepEqual(warned, [`${renter.id} balance_low`, `${renter.id} balance_exhausted`], 'warned again when it ran out');
  assert.equal((await findRental(t.ctx.db, rental.id))?.state, 'active', 'still running within the grace');
  for (let i = 0; i < 10; i++) {
    t.clock.advance(minute);
    await meterTick(t.ctx);
  }
  const ended = await findRental(t.ctx.db, rental.id);
  assert.equal(ended?.state, 'ending');
  assert.equal(ended?.end_reason, 'balance_exhausted');
  assert.ok((await balanceOf(t.ctx.db, { kind: 'renter_balance', userId: renter.id })) >= -chargeForMinutes(10_000n, 11n));
  assert.equal(await ledgerTotal(t.ctx.db), 0n);
  await t.close();
});

test('random rents, stops, top-ups, outages and clock jumps keep the books exact', async () => {
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.oneof(
          fc.record({
            op: fc.constant('rent' as const),
            who: fc.nat(2),
            hours: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
          }),
          fc.record({ op: fc.constant('stop' as const) }),
          fc.record({ op: fc.constant('topup' as const), who: fc.nat(2), amount: fc.bigInt({ min: 1n, max: 50_000n }) }),
          fc.record({ op: fc.constant('outage' as const) }),
          fc.record({ op: fc.constant('back' as const) }),
          fc.record({ op: fc.constant('time' as const), minutes: fc.integer({ min: 1, max: 300 }) }),
        ),
        { maxLength: 40 },
      ),
      async (ops) => {
        runs++;
        const t = await createTestContext();
        const owner = await t.createUser('owner');
        const renters = [await t.createUser('a', 20_000n), await t.createUser('b', 0n), await t.createUser('c', 5_000n)];
        const deviceId = await t.createListedDevice(owner.id);
        let current: { id: string; renterId: string } | null = null;
        for (const o of ops) {
          if (o.op === 'rent' && !current) {
            const r = await rent(t.ctx, renters[o.who]!.id, { deviceId, hours: o.hours }).catch(() => null);
            if (r) {
              await syncDevice(t.ctx, deviceId, { container: { rentalId: r.id, state: 'ready' } });
              current = { id: r.id, renterId: renters[o.who]!.id };
            }
          } else if (o.op === 'stop' && current) {
            await stopRental(t.ctx, current.renterId, current.id).catch(() => {});
          } else if (o.op === 'topup') {
            await grantCredit(t.ctx, renters[o.who]!.id, o.amount, 'top-up');
          } else if (o.op === 'outage') {
            t.online.delete(deviceId);
          } else if (o.op === 'back') {
            t.online.add(deviceId);
          } else if (o.op === 'time') {
            for (let m = 0; m < o.minutes; m += 7) {
              t.clock.advance(Math.min(7, o.minutes - m) * minute);
              await meterTick(t.ctx);
              await endExpiredRentals(t.ctx);
            }
          }
          if (current) {
            const row = await findRental(t.ctx.db, current.id);
            if (row && row.state !== 'active' && row.state !== 'requested') {
              await syncDevice(t.ctx, deviceId, { container: null }); // the agent wipes it
              current = null;
            }
          }
        }
        assert.equal(await ledgerTotal(t.ctx.db), 0n, 'the ledger sums to zero');
        assert.deepEqual(await driftedAccounts(t.ctx.db), [], 'running balances equal the sums of their entries');
        const rentals = await t.ctx.db.selectFrom('rentals').selectAll().execute();
        const charged = rentals.reduce((s, r) => s + BigInt(r.charged_micros), 0n);
        const fees = rentals.reduce((s, r) => s + BigInt(r.fee_micros), 0n);
        assert.equal(
          await balanceOf(t.ctx.db, { kind: 'owner_earnings', userId: owner.id }),
          charged - fees,
          'the owner got the charges minus the fee',
        );
        assert.equal(await balanceOf(t.ctx.db, { kind: 'marketplace_fees' }), fees);
        for (const r of rentals) {
          const held = await balanceOf(t.ctx.db, { kind: 'rental_hold', userId: r.renter_id, rentalId: r.id });
          if (r.state === 'ending' || r.state === 'ended') assert.equal(held, 0n, 'a closed rental holds nothing');
          else assert.ok(held >= 0n, 'a hold never goes below zero');
          if (r.hours !== null)
            assert.ok(BigInt(r.charged_micros) <= 10_000n * BigInt(r.hours), 'a prepaid term never costs more than it said');
        }
        for (const r of renters) {
          // Below zero only by what runs on before the meter ends the rental: the 10-minute grace, plus up
          // to one tick (7 min here) before running out is noticed and one more before the end is acted on.
          assert.ok((await balanceOf(t.ctx.db, { kind: 'renter_balance', userId: r.id })) >= -chargeForMinutes(10_000n, 10n + 7n + 7n));
        }
        await t.close();
      },
    ),
    { numRuns: Number(process.env.P2PVPS_PROPERTY_RUNS ?? 100) },
  );
  console.log(`# property: ${runs} random sequences`);
});
