import type { EndReason } from '@p2pvps/protocol/schemas';
import type { Db } from '../../db/database.ts';
import { findRentalWithAccounts, updateRental, type RentalRow } from '../../db/rentals-repo.ts';
import type { DomainContext } from '../context.ts';
import { balanceOf, post, postMany, type PostOptions } from './ledger.ts';
import { billMinutes, chargeTransaction, payingAccount } from './metering.ts';

const minuteMs = 60_000;

/**
 * Prepaid terms (`rent --hours N`). Renting holds N hours of the price: it moves from the
 * renter's balance to the rental's hold account, and the meter charges the hold instead of
 * the balance. When the rental ends, what is left goes back to the renter, except when the
 * renter stops early: the rest of the term they chose to give up is charged as if used, so
 * a term stopped early costs exactly its price (minutes the device was offline are still
 * returned).
 */
export async function placeHold(trx: Db, ctx: DomainContext, rental: RentalRow, amount: bigint, hours = rental.hours): Promise<void> {
  await post(trx, {
    kind: 'hold',
    memo: `${hours} h prepaid on ${rental.device_name}`,
    at: ctx.clock.now().toISOString(),
    rentalId: rental.id,
    postings: [
      { kind: 'renter_balance', userId: rental.renter_id, amount: -amount },
      { ...payingAccount(rental), amount },
    ],
  });
}

/** Closes a prepaid rental's hold as it ends (in the caller's transaction, after its last settlement). */
export async function closeHold(trx: Db, ctx: DomainContext, rentalId: string, reason: EndReason): Promise<void> {
  const rental = await findRentalWithAccounts(trx, rentalId);
  if (!rental || rental.hours === null) return;
  const held = await balanceOf(trx, payingAccount(rental));
  if (held <= 0n) return;
  const at = ctx.clock.now().toISOString();
  const writes: PostOptions[] = [];
  let left = held;
  if (reason === 'renter_stopped' && rental.expires_at !== null && rental.billed_until !== null) {
    // Everything from where the meter stopped to the end of the term is given up. Both ends lie
    // whole minutes after the activation, so this is a whole number of minutes, not rounded.
    const givenUp = Math.max(0, Math.round((new Date(rental.expires_at).getTime() - new Date(rental.billed_until).getTime()) / minuteMs));
    const bill = billMinutes(rental, givenUp, left);
    if (bill.chargeNow > 0n) {
      writes.push(chargeTransaction(rental, bill.chargeNow, bill.feeNow, `${givenUp} min of the prepaid term given up`, at));
      await updateRental(trx, rental.id, {
        billed_minutes: bill.billedMinutes,
        charged_micros: bill.charged,
        fee_micros: bill.fee,
        billed_until: rental.expires_at,
      });
      left -= bill.chargeNow;
    }
  }
  if (left > 0n) {
    writes.push({
      kind: 'hold_release',
      memo: `unused prepaid time on ${rental.device_name} returned (${reason.replaceAll('_', ' ')})`,
      at,
      rentalId: rental.id,
      postings: [
        { ...payingAccount(rental), amount: -left },
        { kind: 'renter_balance', userId: rental.renter_id, amount: left },
      ],
    });
  }
  await postMany(trx, writes);
}
