import type { Db } from '../../db/database.ts';
import { findMeteredRental, updateSettledRentals, type RentalRow, type SettledRental } from '../../db/rentals-repo.ts';
import type { DomainContext } from '../context.ts';
import { postMany, type AccountRef, type PostOptions } from './ledger.ts';
import { chargeForMinutes, feeOf } from './money.ts';
import { inTransaction } from '../../db/transactions.ts';

const minuteMs = 60_000;

/**
 * What the meter needs of a rental, with the device's owner and, when they exist, the IDs of
 * the two accounts it posts to and what the paying account holds.
 */
export type MeteredRental = Pick<
  RentalRow,
  | 'id'
  | 'device_id'
  | 'device_name'
  | 'renter_id'
  | 'hours'
  | 'expires_at'
  | 'billed_until'
  | 'billed_minutes'
  | 'charged_micros'
  | 'fee_micros'
  | 'price_per_hour_micros'
  | 'fee_bps'
  | 'offline_since'
> & {
  owner_id: string;
  paying_account_id?: string | null;
  owner_account_id?: string | null;
  paying_balance?: bigint | number | string | null;
};

/** Where a rental's charges come from: a prepaid term's hold, else the renter's balance. */
export function payingAccount(rental: Pick<RentalRow, 'id' | 'renter_id' | 'hours'>): AccountRef {
  return rental.hours === null
    ? { kind: 'renter_balance', userId: rental.renter_id }
    : { kind: 'rental_hold', userId: rental.renter_id, rentalId: rental.id };
}

/** The balanced transaction that moves `charge` (fee included) from the paying account to the owner and the marketplace. */
export function chargeTransaction(rental: MeteredRental, charge: bigint, fee: bigint, memo: string, at: string): PostOptions {
  return {
    kind: 'rental_charge',
    memo,
    at,
    rentalId: rental.id,
    postings: [
      { ...payingAccount(rental), amount: -charge, accountId: rental.paying_account_id ?? undefined },
      { kind: 'owner_earnings', userId: rental.owner_id, amount: charge - fee, accountId: rental.owner_account_id ?? undefined },
      { kind: 'marketplace_fees', amount: fee },
    ],
  };
}

/**
 * Bills `extraMinutes` more of a rental, collecting at most `available` (what the paying
 * account holds). Totals are computed from the whole minutes billed so far, so rounding
 * never accumulates: `charged` is what was collected, and what the minutes came to beyond
 * it is owed. The next settlement collects that first (a renter who tops up within the
 * grace pays for the minutes they ran on); a rental that ends owing it leaves it unpaid,
 * and the owner is credited only what was collected. The fee is the marketplace's share
 * of the collected total, so it is never more than the charge.
 */
export function billMinutes(
  rental: Pick<RentalRow, 'price_per_hour_micros' | 'billed_minutes' | 'fee_bps' | 'charged_micros' | 'fee_micros'>,
  extraMinutes: number,
  available: bigint,
) {
  const price = BigInt(rental.price_per_hour_micros ?? 0);
  const billedMinutes = rental.billed_minutes + extraMinutes;
  const before = BigInt(rental.charged_micros);
  const due = chargeForMinutes(price, BigInt(billedMinutes)) - before;
  const chargeNow = due <= 0n || available <= 0n ? 0n : due < available ? due : available;
  const charged = before + chargeNow;
  const fee = feeOf(charged, BigInt(rental.fee_bps ?? 0));
  return { billedMinutes, charged, fee, chargeNow, feeNow: fee - BigInt(rental.fee_micros), owed: due - chargeNow };
}

interface Settled {
  post: PostOptions | null;
  update: SettledRental | null;
  charged: bigint;
}

/**
 * What settling one active rental up to `now` comes to, in whole minutes (none past a
 * prepaid term's end), collecting at most `available`. `online` says whether the device was
 * connected over that time: offline minutes are skipped, not billed, and the first offline
 * sighting is remembered (from when billing stopped) so the meter can tell a lost device.
 */
function settle(rental: MeteredRental, now: Date, online: boolean, available: bigint): Settled {
  const nothing: Settled = { post: null, update: null, charged: 0n };
  if (rental.billed_until === null || rental.price_per_hour_micros === null) return nothing;
  const since = new Date(rental.billed_until).getTime();
  const until = rental.expires_at === null ? now.getTime() : Math.min(now.getTime(), new Date(rental.expires_at).getTime());
  const minutes = Math.max(0, Math.floor((until - since) / minuteMs));
  const offlineSince = online ? null : (rental.offline_since ?? rental.billed_until);
  const billable = online ? minutes : 0;
  // Offline minutes bill nothing, but what earlier minutes still owe is collected whenever it can be.
  const bill = billMinutes(rental, billable, available);
  if (minutes === 0 && bill.chargeNow === 0n && offlineSince === rental.offline_since) return nothing;
  const billedUntil = new Date(since + minutes * minuteMs).toISOString();
  const what = billable > 0 ? `${billable} min of ${rental.device_name}` : `earlier minutes of ${rental.device_name}`;
  return {
    post:
      bill.chargeNow === 0n
        ? null
        : chargeTransaction(
            rental,
            bill.chargeNow,
            bill.feeNow,
            bill.owed > 0n ? `${what} (part: the balance ran out)` : what,
            billedUntil,
          ),
    update: [rental.id, bill.billedMinutes, bill.charged, bill.fee, billedUntil, offlineSince, rental.billed_until],
    charged: bill.chargeNow,
  };
}

/** Settles these active rentals in the caller's transaction: one ledger write and one rental update for all of them. */
export async function settleAll(
  trx: Db,
  ctx: DomainContext,
  rentals: readonly MeteredRental[],
  online: (r: MeteredRental) => boolean,
): Promise<bigint> {
  const now = ctx.clock.now();
  // A renter's pay-as-you-go rentals draw on one balance: each takes from what the ones before it left.
  const left = new Map<string, bigint>();
  const settled = rentals.map((r) => {
    const account = r.paying_account_id ?? `none|${r.id}`;
    const available = left.get(account) ?? BigInt(r.paying_balance ?? 0);
    const s = settle(r, now, online(r), available);
    left.set(account, available - s.charged);
    return s;
  });
  await postMany(
    trx,
    settled.flatMap((s) => (s.post ? [s.post] : [])),
  );
  const updates = settled.flatMap((s) => (s.update ? [s.update] : []));
  // A compare-and-set on each rental's watermark: minutes settled from a billed_until that
  // another settlement (another node's tick, a tunnel going down) moved meanwhile are not
  // written, and the whole batch with its charges rolls back, to be settled afresh.
  const changed = await updateSettledRentals(trx, updates);
  if (changed !== updates.length) throw new MeterConflict(updates.length - changed);
  return settled.reduce((sum, s) => sum + s.charged, 0n);
}

/** Some rentals were settled by someone else while this settlement read them: it rolls back and nothing is billed twice. */
export class MeterConflict extends Error {
  constructor(rentals: number) {
    super(`${rentals} rental(s) were settled elsewhere meanwhile; this settlement was rolled back and the next tick settles them afresh`);
    this.name = 'MeterConflict';
  }
}

/**
 * Bills an active rental up to now (see `settle`), in one database transaction, or in the
 * caller's (`trx`). `online` says whether the device was connected since the last
 * settlement. Returns the amount charged now.
 */
export async function settleRental(ctx: DomainContext, rentalId: string, online: boolean, trx?: Db): Promise<bigint> {
  const run = async (t: Db) => {
    const rental = await findMeteredRental(t, rentalId);
    return rental ? settleAll(t, ctx, [rental], () => online) : 0n;
  };
  return inTransaction(trx ?? ctx.db, run);
}

/** A renter is warned once their balance covers less than this many minutes of their running rentals. */
export const lowBalanceMinutes = 30;
