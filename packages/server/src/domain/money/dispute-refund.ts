import type { Db } from '../../db/database.ts';
import type { RentalRow } from '../../db/rentals-repo.ts';
import { balanceOf, post } from './ledger.ts';

export interface DisputeRefund {
  /** Taken back from the device owner's earnings. */
  fromOwnerMicros: bigint;
  /** Borne by the marketplace: its fee's share, and what the owner's earnings no longer held. */
  fromMarketplaceMicros: bigint;
}

/**
 * Gives `amount` of a disputed rental back to its renter's balance, in the caller's
 * transaction. Who bears it: the owner and the marketplace in the shares they were paid
 * (the owner the charge less the fee, the marketplace its fee), since the operator found
 * that the rental was not delivered as sold and both were paid for it. The owner's share is
 * taken from their earnings, but never more than their earnings hold: what they were already
 * paid out the marketplace bears (as it does for a reversed deposit), so no balance goes
 * below zero. The ledger stays balanced: the renter is credited exactly what the two give.
 * Idempotent by the dispute (`dispute:<id>`).
 */
export async function postDisputeRefund(
  trx: Db,
  o: {
    disputeId: string;
    rental: Pick<RentalRow, 'id' | 'renter_id' | 'device_name' | 'charged_micros' | 'fee_micros'>;
    ownerId: string;
    amountMicros: bigint;
    at: string;
  },
): Promise<DisputeRefund> {
  const charged = BigInt(o.rental.charged_micros);
  const fee = BigInt(o.rental.fee_micros);
  const ownerShare = charged > 0n ? (o.amountMicros * (charged - fee)) / charged : 0n;
  const earnings = await balanceOf(trx, { kind: 'owner_earnings', userId: o.ownerId });
  const fromOwner = earnings <= 0n ? 0n : earnings < ownerShare ? earnings : ownerShare;
  const fromMarketplace = o.amountMicros - fromOwner;
  await post(trx, {
    kind: 'dispute_refund',
    memo: `refund after a dispute about ${o.rental.device_name}${fromOwner < ownerShare ? ' (the marketplace bears the part already paid out)' : ''}`,
    at: o.at,
    rentalId: o.rental.id,
    externalKey: `dispute:${o.disputeId}`,
    postings: [
      { kind: 'renter_balance', userId: o.rental.renter_id, amount: o.amountMicros },
      { kind: 'owner_earnings', userId: o.ownerId, amount: -fromOwner },
      { kind: 'marketplace_fees', amount: -fromMarketplace },
    ],
  });
  return { fromOwnerMicros: fromOwner, fromMarketplaceMicros: fromMarketplace };
}
