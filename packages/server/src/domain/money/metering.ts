import type { Db } from '../../db/database.ts';
import type { RentalRow } from '../../db/rentals-repo.ts';
import { findRental } from '../../db/rentals-repo.ts';
import type { DomainContext } from '../context.ts';
import { endRental } from '../rentals/rentals.ts';
import { balanceOf, post } from './ledger.ts';
import { chargeForMinutes, feeOf } from './money.ts';

const minuteMs = 60_000;
const tickBatch = 500;

/**
 * Bills an active rental up to now, in whole minutes: the renter is charged at the
 * rental's hourly price and the owner credited the same minus the marketplace fee, in one
 * balanced transaction. Totals are computed from the whole minutes billed so far, so
 * rounding never accumulates. Minutes while the device is offline are skipped, not
 * billed. Returns the amount charged now.
 */
export function settleRental(ctx: DomainContext, rentalId: string, online: boolean): Promise<bigint> {
  return ctx.db.transaction().execute((trx) => settleIn(trx, ctx, rentalId, online));
}

/** settleRental inside a transaction the caller holds. */
async function settleIn(trx: Db, ctx: DomainContext, rentalId: string, online: boolean): Promise<bigint> {
  const row = await findRental(trx, rentalId);
  if (!row || row.state !== 'active' || row.billed_until === null || row.price_per_hour_micros === null) return 0n;
  const now = ctx.clock.now();
  const since = new Date(row.billed_until).getTime();
  const minutes = Math.floor((now.getTime() - since) / minuteMs);
  if (minutes <= 0) return 0n;
  const billedUntil = new Date(since + minutes * minuteMs).toISOString();
  if (!online) {
    await trx.updateTable('rentals').set({ billed_until: billedUntil }).where('id', '=', rentalId).execute();
    return 0n;
  }
  const price = BigInt(row.price_per_hour_micros);
  const feeBps = BigInt(row.fee_bps ?? 0);
  const billedMinutes = row.billed_minutes + minutes;
  const charged = chargeForMinutes(price, BigInt(billedMinutes));
  const fee = feeOf(charged, feeBps);
  const chargeNow = charged - BigInt(row.charged_micros);
  const feeNow = fee - BigInt(row.fee_micros);
  const owner = await trx.selectFrom('devices').select('owner_id').where('id', '=', row.device_id).executeTakeFirstOrThrow();
  await post(trx, {
    kind: 'rental_charge',
    memo: `${minutes} min of ${row.device_name}`,
    at: billedUntil,
    rentalId,
    postings: [
      { kind: 'renter_balance', userId: row.renter_id, amount: -chargeNow },
      { kind: 'owner_earnings', userId: owner.owner_id, amount: chargeNow - feeNow },
      { kind: 'marketplace_fees', amount: feeNow },
    ],
  });
  await trx
    .updateTable('rentals')
    .set({ billed_minutes: billedMinutes, charged_micros: charged, fee_micros: fee, billed_until: billedUntil })
    .where('id', '=', rentalId)
    .execute();
  return chargeNow;
}

/**
 * One metering tick: settles every active rental, and ends those whose renter's balance
 * has been used up for longer than the grace (reason `balance_exhausted`); a balance that
 * recovers (a top-up) clears the clock. Returns what it did, for logs and benchmarks.
 */
export async function meterTick(ctx: DomainContext): Promise<{ settled: number; ended: number }> {
  const active = await ctx.db.selectFrom('rentals').selectAll().where('state', '=', 'active').execute();
  let ended = 0;
  // Settled in batches, one database transaction each: a commit per rental would make a
  // tick of thousands of rentals wait on thousands of disk syncs.
  for (let i = 0; i < active.length; i += tickBatch) {
    const batch = active.slice(i, i + tickBatch);
    await ctx.db.transaction().execute(async (trx) => {
      for (const rental of batch) await settleIn(trx, ctx, rental.id, ctx.tunnels.isOnline(rental.device_id));
    });
    for (const rental of batch) if (await enforceBalance(ctx, rental)) ended++;
  }
  return { settled: active.length, ended };
}

async function enforceBalance(ctx: DomainContext, rental: RentalRow): Promise<boolean> {
  const balance = await balanceOf(ctx.db, { kind: 'renter_balance', userId: rental.renter_id });
  const now = ctx.clock.now();
  if (balance > 0n) {
    if (rental.balance_exhausted_at !== null) {
      await ctx.db.updateTable('rentals').set({ balance_exhausted_at: null }).where('id', '=', rental.id).execute();
    }
    return false;
  }
  if (rental.balance_exhausted_at === null) {
    await ctx.db.updateTable('rentals').set({ balance_exhausted_at: now.toISOString() }).where('id', '=', rental.id).execute();
    ctx.notifyUser?.(rental.renter_id, 'balance_exhausted', rental.id);
    return false;
  }
  if (now.getTime() - new Date(rental.balance_exhausted_at).getTime() < ctx.settings.balanceGraceMs) return false;
  const current = await findRental(ctx.db, rental.id);
  return current ? endRental(ctx, current, 'balance_exhausted') : false;
}
