import type { Db } from '../../db/database.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { balanceOf, externalKeyApplied, post } from './ledger.ts';
import { inTransaction } from '../../db/transactions.ts';

export interface DepositReversal {
  /** False when `externalKey` was already applied (a redelivered refund or chargeback): nothing changed. */
  applied: boolean;
  /** Taken back from the renter's balance. */
  fromBalanceMicros: bigint;
  /** What the balance no longer held (already spent on rentals): borne by the marketplace, out of its fees. */
  shortfallMicros: bigint;
  /** The renter's balance after. */
  balanceMicros: bigint;
}

/**
 * Money that came in through a rail and went back out of it: a refund, a reversal, a
 * chargeback. It leaves through the rail's clearing account and is taken from the renter's
 * balance, but never more than the balance holds. The rest was already spent on rentals and
 * credited to owners, who delivered for it; the marketplace bears it, out of its fees, so the
 * balance never goes below zero and owners' earnings plus fees never exceed what stayed paid
 * in. Idempotent by `externalKey` (say `paypal-refund:<id>`). Payment rails call this; it
 * does not talk to the rail.
 */
export async function reverseDeposit(
  ctx: DomainContext,
  o: { userId: string; rail: string; amountMicros: bigint; externalKey: string; memo: string },
): Promise<DepositReversal> {
  if (o.amountMicros <= 0n) throw new DomainError('invalid_request', 'A reversed amount must be more than zero.');
  return inTransaction(ctx.db, async (trx) => {
    if (await externalKeyApplied(trx, o.externalKey)) {
      const balance = await balanceOf(trx, { kind: 'renter_balance', userId: o.userId });
      return { applied: false, fromBalanceMicros: 0n, shortfallMicros: 0n, balanceMicros: balance };
    }
    return { applied: true, ...(await postDepositReversal(trx, { ...o, at: ctx.clock.now().toISOString() })) };
  });
}

/**
 * The postings of `reverseDeposit`, inside the caller's transaction, for a rail that checks
 * its own keys first (the payment rails' reversal sink). The caller has made sure
 * `externalKey` is new; its unique index settles a race.
 */
export async function postDepositReversal(
  trx: Db,
  o: { userId: string; rail: string; amountMicros: bigint; externalKey: string; memo: string; at: string },
): Promise<Omit<DepositReversal, 'applied'>> {
  const before = await balanceOf(trx, { kind: 'renter_balance', userId: o.userId });
  const fromBalance = before <= 0n ? 0n : before < o.amountMicros ? before : o.amountMicros;
  const shortfall = o.amountMicros - fromBalance;
  await post(trx, {
    kind: 'deposit_reversal',
    memo: shortfall > 0n ? `${o.memo} (the marketplace bears the part already spent)` : o.memo,
    at: o.at,
    externalKey: o.externalKey,
    postings: [
      { kind: 'rail_clearing', rail: o.rail, amount: o.amountMicros },
      { kind: 'renter_balance', userId: o.userId, amount: -fromBalance },
      { kind: 'marketplace_fees', amount: -shortfall },
    ],
  });
  return { fromBalanceMicros: fromBalance, shortfallMicros: shortfall, balanceMicros: before - fromBalance };
}
