import { sql } from 'kysely';
import { chunksFor, updateFromValues, type Db } from '../../db/database.ts';
import type { RentalRow } from '../../db/rentals-repo.ts';
import { findRental } from '../../db/rentals-repo.ts';
import type { DomainContext } from '../context.ts';
import { endRental } from '../rentals/ending.ts';
import { postMany, type AccountRef, type PostOptions } from './ledger.ts';
import { chargeForMinutes, feeOf } from './money.ts';
import { inTransaction } from '../../db/transactions.ts';

const minuteMs = 60_000;
/** Rentals settled per database transaction: big enough to be set-based, small enough not to hold the database for long. */
const tickBatch = 2_500;

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
  /** id, billed_minutes, charged_micros, fee_micros, billed_until, offline_since */
  update: [string, number, bigint, bigint, string, string | null] | null;
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
    update: [rental.id, bill.billedMinutes, bill.charged, bill.fee, billedUntil, offlineSince],
    charged: bill.chargeNow,
  };
}

/** Settles these active rentals in the caller's transaction: one ledger write and one rental update for all of them. */
async function settleAll(
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
  await updateFromValues(trx, {
    table: 'rentals',
    key: 'id',
    types: ['text', 'integer', 'bigint', 'bigint', 'text', 'text'],
    set: sql`billed_minutes = v.column2, charged_micros = v.column3, fee_micros = v.column4, billed_until = v.column5, offline_since = v.column6`,
    rows: settled.flatMap((s) => (s.update ? [s.update] : [])),
  });
  return settled.reduce((sum, s) => sum + s.charged, 0n);
}

/** Rentals as the meter needs them (any state; `meteredRentals` keeps the active ones). */
export function rentalsWithAccounts(db: Db) {
  // The accounts' keys as ledger.ts's accountKey builds them: kind|user|rail, then |rental for a hold.
  const payingKey = sql<string>`case when rentals.hours is null then 'renter_balance|' || rentals.renter_id || '|'
    else 'rental_hold|' || rentals.renter_id || '||' || rentals.id end`;
  return db
    .selectFrom('rentals')
    .innerJoin('devices', 'devices.id', 'rentals.device_id')
    .leftJoin('ledger_accounts as paying', (join) => join.on(sql<boolean>`paying.key = ${payingKey}`))
    .leftJoin('ledger_accounts as earning', (join) => join.on(sql<boolean>`earning.key = 'owner_earnings|' || devices.owner_id || '|'`))
    .select([
      'rentals.id',
      'rentals.device_id',
      'rentals.device_name',
      'rentals.renter_id',
      'rentals.hours',
      'rentals.expires_at',
      'rentals.billed_until',
      'rentals.billed_minutes',
      'rentals.charged_micros',
      'rentals.fee_micros',
      'rentals.price_per_hour_micros',
      'rentals.fee_bps',
      'rentals.offline_since',
      'devices.owner_id as owner_id',
      'paying.id as paying_account_id',
      'earning.id as owner_account_id',
      'paying.balance as paying_balance',
    ]);
}

export function meteredRentals(db: Db) {
  return rentalsWithAccounts(db).where('rentals.state', '=', 'active');
}

/**
 * Bills an active rental up to now (see `settle`), in one database transaction, or in the
 * caller's (`trx`). `online` says whether the device was connected since the last
 * settlement. Returns the amount charged now.
 */
export async function settleRental(ctx: DomainContext, rentalId: string, online: boolean, trx?: Db): Promise<bigint> {
  const run = async (t: Db) => {
    const rental = await meteredRentals(t).where('rentals.id', '=', rentalId).executeTakeFirst();
    return rental ? settleAll(t, ctx, [rental], () => online) : 0n;
  };
  return trx ? run(trx) : inTransaction(ctx.db, run);
}

/**
 * One metering tick: settles every active rental (set-based, in batches of one database
 * transaction each), then ends those whose device has been gone past the grace
 * (`device_lost`) and those whose renter's balance has been used up for longer than the
 * grace (`balance_exhausted`; the renter is warned when it runs out, and a top-up clears
 * the clock). Returns what it did, for logs and benchmarks.
 */
export async function meterTick(ctx: DomainContext): Promise<{ settled: number; ended: number }> {
  let settled = 0;
  let after = '';
  for (;;) {
    const batch = await inTransaction(ctx.db, async (trx) => {
      const rentals = await meteredRentals(trx).where('rentals.id', '>', after).orderBy('rentals.id').limit(tickBatch).execute();
      await settleAll(trx, ctx, rentals, (r) => ctx.tunnels.isOnline(r.device_id));
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
  const lost = await ctx.db
    .selectFrom('rentals')
    .selectAll()
    .where('state', '=', 'active')
    .where('offline_since', 'is not', null)
    .where('offline_since', '<=', cutoff)
    .execute();
  let ended = 0;
  for (const rental of lost) {
    if (ctx.tunnels.isOnline(rental.device_id)) continue; // back since the tick looked
    if (await endRental(ctx, rental, 'device_lost', 'The device was offline for longer than the grace period.')) ended++;
  }
  return ended;
}

/** A renter is warned once their balance covers less than this many minutes of their running rentals. */
export const lowBalanceMinutes = 30;

/**
 * The balance rules for rentals charged to the renter's balance (prepaid terms draw on
 * their hold instead): a warning when the balance covers less than `lowBalanceMinutes` of
 * the renter's running rentals, another when it is used up, and the end
 * (`balance_exhausted`) once it has been used up for longer than the grace. A top-up
 * clears both clocks.
 */
async function enforceBalances(ctx: DomainContext): Promise<number> {
  const rows = await ctx.db
    .selectFrom('rentals')
    .leftJoin('ledger_accounts', (join) =>
      join.onRef('ledger_accounts.user_id', '=', 'rentals.renter_id').on('ledger_accounts.kind', '=', 'renter_balance'),
    )
    .select([
      'rentals.id as id',
      'rentals.renter_id as renterId',
      'rentals.price_per_hour_micros as price',
      'rentals.balance_low_at as lowAt',
      'rentals.balance_exhausted_at as exhaustedAt',
      'ledger_accounts.balance as balance',
    ])
    .where('rentals.state', '=', 'active')
    .where('rentals.hours', 'is', null)
    .execute();
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
  const update = async (ids: string[], changes: { balance_low_at?: string | null; balance_exhausted_at?: string | null }) => {
    for (const chunk of chunksFor(ids, 1)) await ctx.db.updateTable('rentals').set(changes).where('id', 'in', chunk).execute();
  };
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
