import { isUniqueViolation, type Db } from '../db/database.ts';
import { externalKeyTaken } from '../db/rails-repo.ts';
import { postDepositReversal } from '../domain/money/deposit-reversal.ts';
import { post } from '../domain/money/ledger.ts';
import type { DepositEvent, DepositSink, ReversalEvent, ReversalSink } from './rail.ts';
import { inTransaction } from '../db/transactions.ts';

/** A deposit for someone who has no account here (deleted, or another marketplace's top-up): settle it by hand. */
export class UnknownDepositor extends Error {
  override readonly name = 'UnknownDepositor';
}

/**
 * Applies a rail's deposit events to the ledger: the rail's clearing account pays the
 * renter's balance, in one transaction keyed `rail:eventId`, so a redelivered event is
 * applied once (`false`), however many times and ways it arrives.
 */
export function ledgerDepositSink(db: Db): DepositSink {
  return async (event: DepositEvent) => {
    if (event.amountMicros <= 0n)
      throw new RangeError(`a deposit must be positive, not ${event.amountMicros} (${event.rail}:${event.eventId})`);
    const user = await db.selectFrom('users').select('id').where('id', '=', event.userId).executeTakeFirst();
    if (!user)
      throw new UnknownDepositor(`${event.rail} deposit ${event.eventId} (${event.reference}) is for unknown user ${event.userId}`);
    const id = await post(db, {
      kind: 'deposit',
      memo: event.reference,
      at: event.occurredAt,
      externalKey: `${event.rail}:${event.eventId}`,
      postings: [
        { kind: 'rail_clearing', rail: event.rail, amount: -event.amountMicros },
        { kind: 'renter_balance', userId: event.userId, amount: event.amountMicros },
      ],
    });
    return id !== null;
  };
}

/**
 * Applies a rail's reversal events to the ledger: the renter's balance pays the rail's
 * clearing account back, keyed `rail:eventId` so a redelivery is applied once, and only when
 * the deposit it reverses was credited. The balance may go negative (the money has left);
 * renting refuses a balance that is not above zero, so the renter cannot spend it further.
 */
export function ledgerReversalSink(db: Db): ReversalSink {
  return async (event: ReversalEvent) => {
    if (event.amountMicros <= 0n)
      throw new RangeError(`a reversal must be positive, not ${event.amountMicros} (${event.rail}:${event.eventId})`);
    const key = `${event.rail}:${event.eventId}`;
    try {
      return await inTransaction(db, async (trx) => {
        if (await externalKeyTaken(trx, key)) return 'already_reversed' as const;
        if (!(await externalKeyTaken(trx, `${event.rail}:${event.reverses}`))) return 'not_credited' as const;
        // What the renter already spent stays spent: the marketplace bears it, so owners'
        // earnings plus fees never exceed what stayed paid in.
        await postDepositReversal(trx, {
          userId: event.userId,
          rail: event.rail,
          amountMicros: event.amountMicros,
          externalKey: key,
          memo: event.reference,
          at: event.occurredAt,
        });
        return 'reversed' as const;
      });
    } catch (err) {
      // A concurrent delivery of the same reversal won the key.
      if (isUniqueViolation(err)) return 'already_reversed';
      throw err;
    }
  };
}
