import { findRental, updateRental, type RentalRow } from '../../db/rentals-repo.ts';
import type { Db } from '../../db/database.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { addPrepaidHours } from './prepaid-terms.ts';
import { inTransaction } from '../../db/transactions.ts';

/**
 * Auto-renewal of prepaid rentals (`rent --hours N --auto-renew`, `extend --auto-renew on|off`,
 * the dashboard's rental view). When the term runs out, a rental with it on gets its term
 * (the hours first rented) again, held from the balance like an `extend`; the money is taken
 * only then, so the renter can turn it off up to the last minute. If the balance does not
 * cover it, the rental ends as any expired one does, and the renter is told why in the
 * rental's detail and the end mail.
 */
export async function setAutoRenew(trx: Db, rentalId: string, on: boolean): Promise<void> {
  await updateRental(trx, rentalId, { auto_renew: on ? 1 : 0 });
}

/** Renews an expired rental if it asks to be; otherwise (or when the balance falls short) says why not, for its detail. */
export async function renewIfAsked(
  ctx: DomainContext,
  row: RentalRow,
): Promise<{ renewed: true } | { renewed: false; why: string | null }> {
  if (row.auto_renew !== 1 || !row.term_hours) return { renewed: false, why: null };
  const term = row.term_hours;
  try {
    const renewed = await inTransaction(ctx.db, async (trx) => {
      // As the worker found it: not stopped, turned off or extended meanwhile.
      const now = await findRental(trx, row.id);
      if (!now || now.state !== 'active' || now.auto_renew !== 1 || now.expires_at !== row.expires_at) return false;
      await addPrepaidHours(trx, ctx, now, term, `Renewing for ${term} h`);
      return true;
    });
    if (!renewed) return { renewed: false, why: null };
  } catch (err) {
    if (err instanceof DomainError && err.code === 'insufficient_balance') return { renewed: false, why: `Not renewed: ${err.message}` };
    throw err;
  }
  // The agent learns the new expiry (its heartbeat reply carries it); the pages show it.
  ctx.notifyDevice(row.device_id, 'rental_renewed');
  return { renewed: true };
}
