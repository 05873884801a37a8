import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { findRental } from '../../db/rentals-repo.ts';
import { DomainError } from '../errors.ts';
import { removeDevice } from '../devices/devices.ts';
import { syncDevice } from '../rentals/agent-sync.ts';
import { endExpiredRentals, extendRental, rent, stopRental } from '../rentals/rentals.ts';
import { createTestContext } from '../test-context.ts';
import { grantCredit } from './credit.ts';
import { reverseDeposit } from './deposit-reversal.ts';
import { balanceOf, post } from './ledger.ts';
import { meterTick } from '../rentals/meter-tick.ts';
import { cancelPayout, markPayoutPaid, requestPayout, startPayout } from './payouts.ts';
import { chargeForMinutes, feeOf } from './money.ts';
import { driftedAccounts, ledgerTotal, ledgerTotals } from '../../db/ledger-repo.ts';

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
  // Before, the grace ran the balance about 11 minutes below zero and credited the owner for them.
  assert.equal(await balanceOf(t.ctx.db, { kind: 'renter_balance', userId: renter.id }), 0n, 'the minutes run on are owed, not charged');
  assert.equal(await balanceOf(t.ctx.db, { kind: 'owner_earnings', userId: owner.id }), 9_000n, 'the owner got what was collected');
  assert.equal(await ledgerTotal(t.ctx.db), 0n);
  await t.close();
});

const op = {
  rent: fc.record({
    op: fc.constant('rent' as const),
    who: fc.nat(2),
    device: fc.nat(7),
    hours: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
  }),
  stop: fc.record({ op: fc.constant('stop' as const), which: fc.nat(7) }),
  extend: fc.record({ op: fc.constant('extend' as const), which: fc.nat(7), hours: fc.integer({ min: 1, max: 3 }) }),
  topup: fc.record({ op: fc.constant('topup' as const), who: fc.nat(2), amount: fc.bigInt({ min: 1n, max: 50_000n }) }),
  refund: fc.record({ op: fc.constant('refund' as const), who: fc.nat(2), amount: fc.bigInt({ min: 1n, max: 30_000n }) }),
  outage: fc.record({ op: fc.constant('outage' as const), device: fc.nat(7) }),
  back: fc.record({ op: fc.constant('back' as const), device: fc.nat(7) }),
  remove: fc.record({ op: fc.constant('remove' as const), device: fc.nat(7), rented: fc.boolean() }),
  add: fc.record({ op: fc.constant('add' as const), owner: fc.nat(1), price: fc.constantFrom(10_000, 10_001, 37_000, 600_000) }),
  payout: fc.record({ op: fc.constant('payout' as const), owner: fc.nat(1), share: fc.integer({ min: 1, max: 100 }) }),
  payoutStep: fc.record({
    op: fc.constant('payoutStep' as const),
    which: fc.nat(5),
    step: fc.constantFrom('start' as const, 'paid' as const, 'ownerCancel' as const, 'operatorCancel' as const),
  }),
  time: fc.record({ op: fc.constant('time' as const), minutes: fc.integer({ min: 1, max: 300 }) }),
  seconds: fc.record({ op: fc.constant('seconds' as const), ms: fc.integer({ min: 1, max: 59_999 }) }),
};

test('random rents in parallel, colluding owners, top-ups, refunds, removals, payouts and clock jumps never make money', async () => {
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        // Renting and time passing most, so that balances run out, terms end and payouts have earnings to pay.
        fc.oneof(
          { arbitrary: op.rent, weight: 4 },
          { arbitrary: op.time, weight: 4 },
          { arbitrary: op.topup, weight: 2 },
          { arbitrary: op.payout, weight: 2 },
          { arbitrary: op.payoutStep, weight: 2 },
          ...[op.stop, op.extend, op.refund, op.outage, op.back, op.remove, op.add, op.seconds].map((arbitrary) => ({
            arbitrary,
            weight: 1,
          })),
        ),
        { maxLength: 40, size: 'max' },
      ),
      async (ops) => {
        runs++;
        const t = await createTestContext();
        const owners = [await t.createUser('owner', 0n), await t.createUser('owner', 0n)];
        // Renter a is the owners' accomplice (or not: the books cannot tell, and need not).
        const renters = [await t.createUser('a', 20_000n), await t.createUser('b', 0n), await t.createUser('c', 5_000n)];
        let deposits = 20_000n + 5_000n;
        let refunds = 0n;
        let shortfalls = 0n;
        let events = 0;
        const devices: { id: string; owner: string }[] = [];
        const addDevice = async (owner: number, price: number) => {
          const id = await t.createListedDevice(owners[owner]!.id);
          await t.ctx.db.updateTable('devices').set({ price_per_hour_micros: price }).where('id', '=', id).execute();
          devices.push({ id, owner: owners[owner]!.id });
        };
        for (const [owner, price] of [
          [0, 10_000],
          [0, 37_000],
          [1, 10_001],
          [1, 600_000],
        ] as const)
          await addDevice(owner, price);
        const open = () => t.ctx.db.selectFrom('rentals').selectAll().where('state', 'in', ['requested', 'active']).orderBy('id').execute();
        const payouts = () => t.ctx.db.selectFrom('payouts').selectAll().orderBy('requested_at').orderBy('id').execute();
        for (const o of ops) {
          if (o.op === 'rent') {
            const device = devices[o.device % devices.length];
            const renter = renters[o.who]!;
            const r = device ? await rent(t.ctx, renter.id, { deviceId: device.id, hours: o.hours }).catch(() => null) : null;
            if (r) await syncDevice(t.ctx, device!.id, { container: { rentalId: r.id, state: 'ready' } });
          } else if (o.op === 'stop' || o.op === 'extend') {
            const rows = await open();
            const r = rows[o.which % Math.max(1, rows.length)];
            if (r && o.op === 'stop') await stopRental(t.ctx, r.renter_id, r.id);
            if (r && o.op === 'extend') await extendRental(t.ctx, r.renter_id, r.id, { hours: o.hours }).catch(() => null);
          } else if (o.op === 'topup') {
            await grantCredit(t.ctx, renters[o.who]!.id, o.amount, 'top-up');
            deposits += o.amount;
          } else if (o.op === 'refund') {
            // A refund or chargeback of an earlier top-up, as the payment rails report it.
            const reversal = { userId: renters[o.who]!.id, rail: 'operator', amountMicros: o.amount, memo: 'chargeback' };
            const done = await reverseDeposit(t.ctx, { ...reversal, externalKey: `operator-reversal:${++events}` });
            refunds += o.amount;
            shortfalls += done.shortfallMicros;
          } else if (o.op === 'outage' || o.op === 'back') {
            const device = devices[o.device % devices.length];
            if (device && o.op === 'outage') t.online.delete(device.id);
            if (device && o.op === 'back') t.online.add(device.id);
          } else if (o.op === 'remove') {
            // Half the time one with an open rental: the case that must end it the normal way.
            const rented = new Set((await open()).map((r) => r.device_id));
            const choice = o.rented && devices.some((d) => rented.has(d.id)) ? devices.filter((d) => rented.has(d.id)) : devices;
            const device = choice[o.device % Math.max(1, choice.length)];
            if (device) {
              devices.splice(devices.indexOf(device), 1);
              await removeDevice(t.ctx, device.owner, device.id);
            }
          } else if (o.op === 'add') {
            if (devices.length < 8) await addDevice(o.owner, o.price);
          } else if (o.op === 'payout') {
            const owner = owners[o.owner]!;
            const earnings = await balanceOf(t.ctx.db, { kind: 'owner_earnings', userId: owner.id });
            const amount = (earnings * BigInt(o.share)) / 100n;
            if (amount > 0n) await requestPayout(t.ctx, owner.id, amount, 'me@paypal.example');
          } else if (o.op === 'payoutStep') {
            const list = await payouts();
            const p = list[o.which % Math.max(1, list.length)];
            if (p && o.step === 'start') await startPayout(t.ctx, p.id).catch(() => null);
            if (p && o.step === 'paid') await markPayoutPaid(t.ctx, p.id, 'paypal', `ref-${p.id}`).catch(() => null);
            if (p && o.step === 'ownerCancel') await cancelPayout(t.ctx, p.id, p.user_id).catch(() => null);
            if (p && o.step === 'operatorCancel') await cancelPayout(t.ctx, p.id).catch(() => null);
          } else if (o.op === 'time') {
            for (let m = 0; m < o.minutes; m += 7) {
              t.clock.advance(Math.min(7, o.minutes - m) * minute);
              await meterTick(t.ctx);
              await endExpiredRentals(t.ctx);
            }
          } else if (o.op === 'seconds') {
            t.clock.advance(o.ms);
          }
          // The agents wipe what ended.
          const ending = await t.ctx.db.selectFrom('rentals').select('device_id').where('state', '=', 'ending').execute();
          for (const r of ending) await syncDevice(t.ctx, r.device_id, { container: null });
          await checkBooks(t, { deposits, refunds }, o.op);
        }
        assert.deepEqual(await driftedAccounts(t.ctx.db), [], 'running balances equal the sums of their entries');
        const rentals = await t.ctx.db
          .selectFrom('rentals')
          .innerJoin('devices', 'devices.id', 'rentals.device_id')
          .selectAll('rentals')
          .select('devices.owner_id')
          .execute();
        const paid = await payouts();
        for (const owner of owners) {
          const mine = rentals.filter((r) => r.owner_id === owner.id);
          const earned = mine.reduce((s, r) => s + BigInt(r.charged_micros) - BigInt(r.fee_micros), 0n);
          const paidOut = paid
            .filter((p) => p.user_id === owner.id && p.state === 'paid')
            .reduce((s, p) => s + BigInt(p.amount_micros), 0n);
          const kept =
            (await balanceOf(t.ctx.db, { kind: 'owner_earnings', userId: owner.id })) +
            (await balanceOf(t.ctx.db, { kind: 'payouts_pending', userId: owner.id }));
          assert.equal(kept + paidOut, earned, 'an owner got the charges of their rentals minus the fee, all accounted for');
        }
        const fees = rentals.reduce((s, r) => s + BigInt(r.fee_micros), 0n);
        assert.equal(await balanceOf(t.ctx.db, { kind: 'marketplace_fees' }), fees - shortfalls, 'fees, less what refunds cost');
        for (const r of rentals) {
          if (r.hours !== null)
            assert.ok(
              BigInt(r.charged_micros) <= BigInt(r.price_per_hour_micros ?? 0) * BigInt(r.hours),
              'a prepaid term never costs more than it said',
            );
        }
        await t.close();
      },
    ),
    { numRuns: Number(process.env.P2PVPS_PROPERTY_RUNS ?? 100) },
  );
  console.log(`# property: ${runs} random sequences`);
});

/**
 * What must hold after every action: the books balance; no account that holds someone's money
 * is below zero; a closed rental holds nothing; and earnings, fees and payouts (pending or
 * paid) never add up to more than what was paid in and stayed in.
 */
async function checkBooks(t: Awaited<ReturnType<typeof createTestContext>>, money: { deposits: bigint; refunds: bigint }, after: string) {
  assert.equal(await ledgerTotal(t.ctx.db), 0n, `the ledger sums to zero (after ${after})`);
  const totals = new Map((await ledgerTotals(t.ctx.db)).map((a) => [a.kind, a.balanceMicros]));
  const paid = await t.ctx.db
    .selectFrom('payouts')
    .select((eb) => eb.fn.sum<string | number | bigint | null>('amount_micros').as('total'))
    .where('state', '=', 'paid')
    .executeTakeFirst();
  const out =
    (totals.get('owner_earnings') ?? 0n) +
    (totals.get('marketplace_fees') ?? 0n) +
    (totals.get('payouts_pending') ?? 0n) +
    BigInt(paid?.total ?? 0);
  assert.ok(
    out <= money.deposits - money.refunds,
    `earnings + fees + payouts ${out} > deposits − refunds ${money.deposits - money.refunds} (after ${after})`,
  );
  const negative = await t.ctx.db
    .selectFrom('ledger_accounts')
    .select(['key', 'balance'])
    .where('kind', 'in', ['renter_balance', 'rental_hold', 'owner_earnings', 'payouts_pending'])
    .where('balance', '<', 0)
    .execute();
  assert.deepEqual(negative, [], `nobody's money below zero (after ${after})`);
  const stranded = await t.ctx.db
    .selectFrom('ledger_accounts')
    .innerJoin('rentals', 'rentals.id', 'ledger_accounts.rental_id')
    .select(['ledger_accounts.key', 'ledger_accounts.balance', 'rentals.end_reason'])
    .where('rentals.state', 'in', ['ending', 'ended'])
    .where('ledger_accounts.balance', '!=', 0)
    .execute();
  assert.deepEqual(stranded, [], `a closed rental holds nothing (after ${after})`);
}
