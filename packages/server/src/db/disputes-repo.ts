import type { Db } from './database.ts';
import type { DisputesTable } from './schema.ts';

export type DisputeRow = DisputesTable;
/** A dispute with the names the renter and operator see it by. */
export type DisputeWithNames = DisputeRow & { device_name: string };

export function insertDispute(db: Db, row: DisputeRow): Promise<unknown> {
  return db.insertInto('disputes').values(row).execute();
}

function named(db: Db) {
  return db
    .selectFrom('disputes')
    .innerJoin('rentals', 'rentals.id', 'disputes.rental_id')
    .selectAll('disputes')
    .select('rentals.device_name');
}

export function findDispute(db: Db, id: string): Promise<DisputeWithNames | undefined> {
  return named(db).where('disputes.id', '=', id).executeTakeFirst();
}

export function findDisputeOfRental(db: Db, rentalId: string): Promise<DisputeWithNames | undefined> {
  return named(db).where('disputes.rental_id', '=', rentalId).executeTakeFirst();
}

export function listRenterDisputes(db: Db, renterId: string): Promise<DisputeWithNames[]> {
  return named(db).where('disputes.renter_id', '=', renterId).orderBy('disputes.opened_at', 'desc').orderBy('disputes.id').execute();
}

/** The operator's list: oldest first, so the longest waiting is on top; at most 500. */
export function listDisputes(db: Db, state?: DisputeRow['state']): Promise<DisputeWithNames[]> {
  let q = named(db);
  if (state) q = q.where('disputes.state', '=', state);
  return q.orderBy('disputes.opened_at').orderBy('disputes.id').limit(500).execute();
}

/** Records the outcome only if the dispute is still open: false when it was resolved meanwhile. */
export async function closeDispute(
  db: Db,
  id: string,
  changes: Pick<DisputeRow, 'state' | 'resolved_at' | 'refund_micros' | 'note'> & Partial<Pick<DisputeRow, 'owner_refund_micros'>>,
): Promise<boolean> {
  const res = await db.updateTable('disputes').set(changes).where('id', '=', id).where('state', '=', 'open').executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** How much of a dispute's refund came out of the owner's earnings (their per-rental earnings show it). */
export function recordOwnerRefund(db: Db, id: string, micros: bigint): Promise<unknown> {
  return db.updateTable('disputes').set({ owner_refund_micros: micros }).where('id', '=', id).execute();
}
