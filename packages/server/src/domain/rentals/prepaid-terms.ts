import { openPayAsYouGo, updateRental, type RentalRow } from '../../db/rentals-repo.ts';
import type { Db } from '../../db/database.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { balanceOf } from '../money/ledger.ts';
import { placeHold } from '../money/holds.ts';
import { formatMoney } from '../money/money.ts';

/**
 * Refuses a new commitment of `required` (a prepaid term's hold, or a pay-as-you-go
 * rental's minimum hours) unless the balance covers it on top of the minimum hours of every
 * pay-as-you-go rental the renter already runs: they all draw on the one balance, so each
 * is funded, not each against the same money. (One SQLite connection serializes this with
 * the meter; a PostgreSQL port must lock the balance row.)
 */
export async function checkFunds(trx: Db, ctx: DomainContext, renterId: string, required: bigint, what: string): Promise<void> {
  const balance = await balanceOf(trx, { kind: 'renter_balance', userId: renterId });
  const running = await openPayAsYouGo(trx, renterId);
  const reserved = running.pricePerHourMicros * BigInt(ctx.settings.rentMinimumHours);
  const needed = required + reserved;
  if (balance >= needed && balance > 0n) return;
  const money = (m: bigint) => formatMoney(m, ctx.settings.currency);
  const others =
    running.count === 0
      ? ''
      : ` (${money(required)}, and ${money(reserved)} for ${ctx.settings.rentMinimumHours} h of your ${running.count} running pay-as-you-go rental${running.count === 1 ? '' : 's'})`;
  throw new DomainError(
    'insufficient_balance',
    `${what} needs a balance of at least ${money(needed)}${others}; yours is ${money(balance)}.`,
  );
}

/**
 * Adds `hours` to a prepaid rental in the caller's transaction: their price at the rental's
 * price is held from the balance (refused with insufficient_balance as renting is) and the
 * expiry moves on. `extend` and auto-renewal both come here.
 */
export async function addPrepaidHours(trx: Db, ctx: DomainContext, row: RentalRow, hours: number, what: string): Promise<void> {
  const amount = BigInt(row.price_per_hour_micros ?? 0) * BigInt(hours);
  await checkFunds(trx, ctx, row.renter_id, amount, what);
  await placeHold(trx, ctx, row, amount, hours);
  const expires = row.expires_at === null ? null : new Date(new Date(row.expires_at).getTime() + hours * 3_600_000).toISOString();
  await updateRental(trx, row.id, { hours: (row.hours ?? 0) + hours, expires_at: expires });
}
