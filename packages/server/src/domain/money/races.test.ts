import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase, type Db } from '../../db/database.ts';
import { isPostgres } from '../../db/postgres.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { syncDevice } from '../rentals/agent-sync.ts';
import { rent } from '../rentals/rentals.ts';
import { createTestContext } from '../test-context.ts';
import { grantCredit } from './credit.ts';
import { driftedAccounts, ledgerTotal } from '../../db/ledger-repo.ts';
import { balanceOf } from './ledger.ts';
import { meterTick } from '../rentals/meter-tick.ts';
import { requestPayout } from './payouts.ts';

/**
 * Money under concurrency: several server nodes (on PostgreSQL, each its own pool of
 * connections to the one database; on SQLite, the one connection a server has) rent,
 * top up, run the meter and ask for payouts at the same moment. Each rule reads and then
 * writes (is the balance enough, which minutes are unbilled, are the earnings there), so
 * without serializable transactions (db/transactions.ts) two nodes both pass a check that
 * only one may pass: a renter holds two terms with the money for one, a minute is billed
 * by two meters, an owner is paid out twice.
 */
const nodeCount = 4;
const renterCount = 6;
const pricePerHour = 10_000n; // what createListedDevice asks
const termHours = 10;
const term = pricePerHour * BigInt(termHours);

test('concurrent rents, top-ups, metering ticks and payouts from several nodes keep every ledger invariant', async () => {
  const t = await createTestContext([20000, 20000 + 2 * renterCount]);
  const pools: Db[] = [];
  try {
    const nodes: DomainContext[] = [t.ctx];
    for (let i = 1; i < nodeCount; i++) {
      if (!isPostgres(t.ctx.db)) {
        nodes.push(t.ctx);
        continue;
      }
      const db = openDatabase(t.databaseUrl);
      pools.push(db);
      nodes.push({ ...t.ctx, db });
    }
    const node = (i: number) => nodes[i % nodeCount]!;
    const owner = await t.createUser('owner', 0n);
    const devices: string[] = [];
    for (let i = 0; i < 2 * renterCount; i++) devices.push(await t.createListedDevice(owner.id));
    // Enough for one term and a half: of two terms rented at once, one must be refused.
    const renters = [];
    for (let i = 0; i < renterCount; i++) renters.push(await t.createUser('renter', term + term / 2n));
    let credited = BigInt(renterCount) * (term + term / 2n);

    // Each renter rents two devices at once, through two nodes.
    const rents = await Promise.allSettled(
      renters.flatMap((renter, i) =>
        [0, 1].map((k) => rent(node(2 * i + k), renter.id, { deviceId: devices[2 * i + k]!, hours: termHours })),
      ),
    );
    expectOnly(rents, ['insufficient_balance']);
    const rented = rents.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    assert.equal(rented.length, renterCount, 'each renter got exactly one of the two terms their money pays for');
    for (const rental of rented) await syncDevice(t.ctx, rental.deviceId, { container: { rentalId: rental.id, state: 'ready' } });
    const startedAt = t.clock.now().getTime();
    await checkBooks(t.ctx.db, 'the rents');

    for (let round = 1; round <= 6; round++) {
      t.clock.advance(7 * 60_000);
      const earnings = await balanceOf(t.ctx.db, { kind: 'owner_earnings', userId: owner.id });
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < nodeCount; i++) work.push(meterTick(node(i)));
      for (const [i, renter] of renters.entries()) work.push(grantCredit(node(i), renter.id, 1_000n, `top-up ${round}`));
      credited += BigInt(renterCount) * 1_000n;
      // The owner asks every node for all that was earned until now: more than that must never leave.
      if (earnings > 0n) for (let i = 0; i < nodeCount; i++) work.push(requestPayout(node(i), owner.id, earnings, 'owner@example.org'));
      const results = await Promise.allSettled(work);
      expectOnly(results, ['insufficient_earnings']);
      await checkBooks(t.ctx.db, `round ${round}`);
      // Every minute is billed once: the meters all ran at the same moment.
      const elapsedMinutes = Math.floor((t.clock.now().getTime() - startedAt) / 60_000);
      const metered = await t.ctx.db
        .selectFrom('rentals')
        .select(['id', 'billed_minutes', 'charged_micros'])
        .where('state', '=', 'active')
        .execute();
      assert.equal(metered.length, renterCount);
      for (const r of metered) {
        assert.equal(r.billed_minutes, elapsedMinutes, `rental ${r.id} billed for the ${elapsedMinutes} minutes it ran`);
        assert.equal(BigInt(r.charged_micros), (pricePerHour * BigInt(elapsedMinutes)) / 60n, `rental ${r.id} charged for its minutes`);
      }
    }
    const held = await t.ctx.db.selectFrom('ledger_accounts').select(['kind', 'balance']).execute();
    const total = held
      .filter((a) => ['renter_balance', 'rental_hold', 'owner_earnings', 'marketplace_fees', 'payouts_pending'].includes(a.kind))
      .reduce((sum, a) => sum + BigInt(a.balance), 0n);
    assert.equal(total, credited, 'what renters, owner and marketplace hold is exactly what was credited');
  } finally {
    for (const db of pools) await db.destroy();
    await t.close();
  }
});

/** Every operation either succeeded or was refused by a rule with one of these codes; nothing else failed. */
function expectOnly(results: PromiseSettledResult<unknown>[], codes: string[]) {
  for (const r of results) {
    if (r.status === 'fulfilled') continue;
    const err = r.reason as unknown;
    if (err instanceof DomainError && codes.includes(err.code)) continue;
    throw err;
  }
}

/**
 * The books balance; each account's running balance is the sum of its entries; nobody's
 * money is below zero; and each rental's charges in the ledger are exactly what the rental
 * says it was charged (a minute billed twice would post twice).
 */
async function checkBooks(db: Db, after: string) {
  assert.equal(await ledgerTotal(db), 0n, `the ledger sums to zero (after ${after})`);
  assert.deepEqual(await driftedAccounts(db), [], `running balances equal their entries (after ${after})`);
  const negative = await db
    .selectFrom('ledger_accounts')
    .select(['key', 'balance'])
    .where('kind', 'in', ['renter_balance', 'rental_hold', 'owner_earnings', 'payouts_pending'])
    .where('balance', '<', 0)
    .execute();
  assert.deepEqual(negative, [], `nobody's money below zero (after ${after})`);
  const rentals = await db.selectFrom('rentals').select(['id', 'charged_micros']).execute();
  for (const rental of rentals) {
    const posted = await db
      .selectFrom('ledger_entries')
      .innerJoin('ledger_transactions', 'ledger_transactions.id', 'ledger_entries.transaction_id')
      .select((eb) => eb.fn.sum<number | null>('ledger_entries.amount').as('total'))
      .where('ledger_transactions.rental_id', '=', rental.id)
      .where('ledger_transactions.kind', '=', 'rental_charge')
      .where('ledger_entries.amount', '>', 0)
      .executeTakeFirst();
    assert.equal(
      BigInt(posted?.total ?? 0),
      BigInt(rental.charged_micros),
      `rental ${rental.id}: the ledger's charges are the rental's (after ${after})`,
    );
  }
}
