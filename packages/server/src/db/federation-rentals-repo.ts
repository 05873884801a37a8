import type { Db } from './database.ts';
import type { FederationUsageTable, RemoteRentalsTable, RentalsTable } from './schema.ts';

/** Cross-server rentals (docs/federation.md): remote rentals at the renter's server, peers' rentals and usage reports at both. */

export type RemoteRentalRow = RemoteRentalsTable;
export type UsageRow = FederationUsageTable;

export function insertRemoteRental(db: Db, row: RemoteRentalRow): Promise<unknown> {
  return db.insertInto('remote_rentals').values(row).execute();
}

export function findRemoteRental(db: Db, id: string): Promise<RemoteRentalRow | undefined> {
  return db.selectFrom('remote_rentals').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findRemoteRentalByRemoteId(db: Db, peerId: string, remoteRentalId: string): Promise<RemoteRentalRow | undefined> {
  return db
    .selectFrom('remote_rentals')
    .selectAll()
    .where('peer_id', '=', peerId)
    .where('remote_rental_id', '=', remoteRentalId)
    .executeTakeFirst();
}

/** Applies changes only if the remote rental is still in one of `fromStates`; false when it moved on meanwhile. */
export async function updateRemoteRental(db: Db, id: string, changes: Partial<RemoteRentalRow>, fromStates?: string[]): Promise<boolean> {
  let q = db.updateTable('remote_rentals').set(changes).where('id', '=', id);
  if (fromStates) q = q.where('state', 'in', fromStates);
  return Number((await q.executeTakeFirst()).numUpdatedRows) === 1;
}

export function listRenterRemoteRentals(db: Db, renterId: string, includeEnded: boolean): Promise<RemoteRentalRow[]> {
  let q = db.selectFrom('remote_rentals').selectAll().where('renter_id', '=', renterId).where('state', '!=', 'failed');
  if (!includeEnded) q = q.where('state', '!=', 'ended');
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(500).execute();
}

/** Remote rentals still open here: their guarantees to renew and their ends to deliver. */
export function listOpenRemoteRentals(db: Db): Promise<RemoteRentalRow[]> {
  return db.selectFrom('remote_rentals').selectAll().where('state', 'in', ['requested', 'active', 'ending']).execute();
}

export function findOriginRental(db: Db, peerId: string, requestId: string): Promise<RentalsTable | undefined> {
  return db
    .selectFrom('rentals')
    .selectAll()
    .where('origin_peer_id', '=', peerId)
    .where('origin_request_id', '=', requestId)
    .executeTakeFirst();
}

/** Peers' rentals here whose state the peer has not yet acknowledged, or that are still running (usage to report). */
export function listOriginRentalsToReport(db: Db): Promise<RentalsTable[]> {
  return db
    .selectFrom('rentals')
    .selectAll()
    .where('origin_peer_id', 'is not', null)
    .where((eb) => eb.or([eb('state', '!=', 'ended'), eb('origin_state_sent', 'is', null), eb('origin_state_sent', '!=', eb.ref('state'))]))
    .orderBy('created_at')
    .execute();
}

/** The account a peer rents through: a user row no one can log in to (no password hash matches '!'). */
export async function ensurePeerUser(db: Db, peerId: string, newUserId: string, now: string): Promise<string> {
  const email = `peer-${peerId}@federation.invalid`;
  await db
    .insertInto('users')
    .values({ id: newUserId, email, password_hash: '!', is_admin: 0, created_at: now })
    .onConflict((oc) => oc.column('email').doNothing())
    .execute();
  const row = await db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirstOrThrow();
  return row.id;
}

export async function insertUsage(db: Db, row: UsageRow): Promise<boolean> {
  const inserted = await db
    .insertInto('federation_usage')
    .values(row)
    .onConflict((oc) => oc.columns(['peer_id', 'rental_id', 'seq']).doNothing())
    .executeTakeFirst();
  return Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 1;
}

export function findUsage(db: Db, peerId: string, rentalId: string, seq: number): Promise<UsageRow | undefined> {
  return db
    .selectFrom('federation_usage')
    .selectAll()
    .where('peer_id', '=', peerId)
    .where('rental_id', '=', rentalId)
    .where('seq', '=', seq)
    .executeTakeFirst();
}

/** Every report of one rental to one peer, in order. */
export function listRentalUsage(db: Db, peerId: string, rentalId: string): Promise<UsageRow[]> {
  return db
    .selectFrom('federation_usage')
    .selectAll()
    .where('peer_id', '=', peerId)
    .where('rental_id', '=', rentalId)
    .orderBy('seq')
    .execute();
}

export function lastUsage(db: Db, peerId: string, rentalId: string): Promise<UsageRow | undefined> {
  return db
    .selectFrom('federation_usage')
    .selectAll()
    .where('peer_id', '=', peerId)
    .where('rental_id', '=', rentalId)
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export async function setUsageAck(db: Db, peerId: string, rentalId: string, seq: number, ackJson: string): Promise<void> {
  await db
    .updateTable('federation_usage')
    .set({ ack_json: ackJson })
    .where('peer_id', '=', peerId)
    .where('rental_id', '=', rentalId)
    .where('seq', '=', seq)
    .execute();
}

/** Reports not yet acknowledged by their peer, oldest first per rental (they are sent in order). */
export function listUnackedUsage(db: Db): Promise<UsageRow[]> {
  return db
    .selectFrom('federation_usage')
    .selectAll()
    .where('ack_json', 'is', null)
    .orderBy('peer_id')
    .orderBy('rental_id')
    .orderBy('seq')
    .execute();
}
