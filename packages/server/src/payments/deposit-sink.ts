import type { Db } from '../db/database.ts';
import { post } from '../domain/money/ledger.ts';
import type { DepositEvent, DepositSink } from './rail.ts';

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
