import { findRental, listBalanceRentals, listMeteredRentals, listRentalsOfflineSince, updateRentals } from '../../db/rentals-repo.ts';
import type { DomainContext } from '../context.ts';
import { lowBalanceMinutes, settleAll } from '../money/metering.ts';
import { endRental } from './ending.ts';
import type { Db } from '../../db/database.ts';
import { inTransaction } from '../../db/transactions.ts';

/** Rentals settled per database transaction: big enough to be set-based, small enough not to hold the database for long. */
const tickBatch = 2_500;

/**
 * One metering tick: settles every active rental (set-based, in batches of one database
 * transaction each), then ends those whose device has been gone past the grace
 * (`device_lost`) and those whose renter's balance has been used up for longer than the
 * grace (`balance_exhausted`; the renter is warned when it runs out, and a top-up clears
 * the clock). Returns what it did, for logs and benchmarks.
 */
export async function meterTick(
  ctx: DomainContext,
  options: {
    /** Run inside each batch's transaction before it commits; throws when this node may no longer bill (cluster/leader-lease.ts). */
    fence?: (trx: Db) => Promise<void>;
  } = {},
): Promise<{ settled: number; ended: number }> {
  let settled = 0;
  let after = '';
  for (;;) {
    const batch = await inTransaction(ctx.db, async (trx) => {
      const rentals = await listMeteredRentals(trx, after, tickBatch);
      await settleAll(trx, ctx, rentals, (r) => ctx.tunnels.isOnline(r.device_id));
      await options.fence?.(trx);
      return rentals;
    });
    settled += batch.length;
    if (batch.length < tickBatch) break;
    after = batch.at(-1)!.id;
  }
  const ended = (await endLostRentals(ctx)) + (await enforceBalances(ctx));
  return { settled, ended };
}

async function endLostRentals(ctx: DomainContext): Promise<number> {
  const cutoff = new Date(ctx.clock.now().getTime() - ctx.settings.deviceLostGraceMs).toISOString();
  const lost = await listRentalsOfflineSince(ctx.db, cutoff);
  let ended = 0;
  for (const rental of lost) {
    if (ctx.tunnels.isOnline(rental.device_id)) continue; // back since the tick looked
    if (await endRental(ctx, rental, 'device_lost', 'The device was offline for longer than the grace period.')) ended++;
  }
  return ended;
}

/**
 * The balance rules for rentals charged to the renter's balance (prepaid terms draw on
 * their hold instead): a warning when the balance covers less than `lowBalanceMinutes` of
 * the renter's running rentals, another when it is used up, and the end
 * (`balance_exhausted`) once it has been used up for longer than the grace. A top-up
 * clears both clocks.
 */
async function enforceBalances(ctx: DomainContext): Promise<number> {
  const rows = await listBalanceRentals(ctx.db);
  const now = ctx.clock.now();
  const perHour = new Map<string, bigint>();
  for (const r of rows) perHour.set(r.renterId, (perHour.get(r.renterId) ?? 0n) + BigInt(r.price ?? 0));
  const set = { lowOn: [] as typeof rows, lowOff: [] as string[], exhaustedOn: [] as typeof rows, exhaustedOff: [] as string[] };
  const overdue: string[] = [];
  for (const r of rows) {
    const balance = BigInt(r.balance ?? 0);
    // balance / (price per minute) < lowBalanceMinutes, in integers.
    const low = balance * 60n < perHour.get(r.renterId)! * BigInt(lowBalanceMinutes);
    if (low && r.lowAt === null) set.lowOn.push(r);
    else if (!low && r.lowAt !== null) set.lowOff.push(r.id);
    if (balance > 0n) {
      if (r.exhaustedAt !== null) set.exhaustedOff.push(r.id);
    } else if (r.exhaustedAt === null) set.exhaustedOn.push(r);
    else if (now.getTime() - new Date(r.exhaustedAt).getTime() >= ctx.settings.balanceGraceMs) overdue.push(r.id);
  }
  const at = now.toISOString();
  const update = (ids: string[], changes: { balance_low_at?: string | null; balance_exhausted_at?: string | null }) =>
    updateRentals(ctx.db, ids, changes);
  await update(
    set.lowOn.map((r) => r.id),
    { balance_low_at: at },
  );
  await update(set.lowOff, { balance_low_at: null });
  await update(
    set.exhaustedOn.map((r) => r.id),
    { balance_exhausted_at: at },
  );
  await update(set.exhaustedOff, { balance_exhausted_at: null });
  // Used up implies low: one warning, the stronger one.
  for (const r of set.lowOn) if (!set.exhaustedOn.includes(r)) ctx.notifyUser?.(r.renterId, 'balance_low', r.id);
  for (const r of set.exhaustedOn) ctx.notifyUser?.(r.renterId, 'balance_exhausted', r.id);
  let ended = 0;
  for (const id of overdue) {
    const current = await findRental(ctx.db, id);
    if (current && (await endRental(ctx, current, 'balance_exhausted'))) ended++;
  }
  return ended;
}
