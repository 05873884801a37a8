import type { Db } from './database.ts';
import type { FederationPeersTable } from './schema.ts';
import { inTransaction } from './transactions.ts';

export type PeerRow = FederationPeersTable;

export async function insertPeer(db: Db, row: PeerRow): Promise<boolean> {
  const inserted = await db
    .insertInto('federation_peers')
    .values(row)
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  return Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 1;
}

export function listPeers(db: Db): Promise<PeerRow[]> {
  return db.selectFrom('federation_peers').selectAll().orderBy('linked_at').orderBy('id').execute();
}

export function findPeer(db: Db, id: string): Promise<PeerRow | undefined> {
  return db.selectFrom('federation_peers').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findPeerByUrl(db: Db, url: string): Promise<PeerRow | undefined> {
  return db.selectFrom('federation_peers').selectAll().where('url', '=', url).executeTakeFirst();
}

export function findPeerByFingerprint(db: Db, fingerprint: string): Promise<PeerRow | undefined> {
  return db.selectFrom('federation_peers').selectAll().where('fingerprint', '=', fingerprint).executeTakeFirst();
}

export async function updatePeer(
  db: Db,
  id: string,
  set: Partial<
    Pick<
      PeerRow,
      | 'state'
      | 'fingerprint'
      | 'public_key'
      | 'name'
      | 'fee_bps'
      | 'updated_at'
      | 'last_sync_at'
      | 'last_error'
      | 'credit_limit_micros'
      | 'over_limit_at'
    >
  >,
): Promise<void> {
  await db.updateTable('federation_peers').set(set).where('id', '=', id).execute();
}

/** Unlinks a peer: its row, its listings and its remembered nonces, at once. */
export async function deletePeer(db: Db, id: string): Promise<boolean> {
  return inTransaction(db, async (trx) => {
    await trx.deleteFrom('peer_listings').where('peer_id', '=', id).execute();
    await trx.deleteFrom('federation_nonces').where('peer_id', '=', id).execute();
    const deleted = await trx.deleteFrom('federation_peers').where('id', '=', id).executeTakeFirst();
    return Number(deleted.numDeletedRows) === 1;
  });
}

/**
 * Remembers a nonce of `peerId` until `expiresAt`: true the first time, false when it is
 * already there (a replay). One insert the database decides through the primary key, so
 * of two nodes of a cluster receiving the same request, exactly one accepts it.
 */
export async function rememberNonce(db: Db, peerId: string, nonce: string, expiresAt: string): Promise<boolean> {
  const inserted = await db
    .insertInto('federation_nonces')
    .values({ peer_id: peerId, nonce, expires_at: expiresAt })
    .onConflict((oc) => oc.columns(['peer_id', 'nonce']).doNothing())
    .executeTakeFirst();
  return Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 1;
}

export async function forgetExpiredNonces(db: Db, now: string): Promise<void> {
  await db.deleteFrom('federation_nonces').where('expires_at', '<', now).execute();
}

/** Replaces everything a peer listed with its latest snapshot, in one transaction. */
export async function replacePeerListings(
  db: Db,
  peerId: string,
  listings: { deviceId: string; json: string }[],
  now: string,
): Promise<void> {
  await inTransaction(db, async (trx) => {
    await trx.deleteFrom('peer_listings').where('peer_id', '=', peerId).execute();
    for (let i = 0; i < listings.length; i += 200) {
      const batch = listings.slice(i, i + 200);
      await trx
        .insertInto('peer_listings')
        .values(batch.map((l) => ({ peer_id: peerId, device_id: l.deviceId, listing_json: l.json, received_at: now })))
        .execute();
    }
    await trx.updateTable('federation_peers').set({ last_sync_at: now, last_error: null }).where('id', '=', peerId).execute();
  });
}

/** The listings of active peers, with the peer's URL. */
export function listActivePeerListings(db: Db): Promise<{ listing_json: string; url: string; fee_bps: number | null }[]> {
  return db
    .selectFrom('peer_listings')
    .innerJoin('federation_peers', 'federation_peers.id', 'peer_listings.peer_id')
    .where('federation_peers.state', '=', 'active')
    .select(['peer_listings.listing_json', 'federation_peers.url', 'federation_peers.fee_bps'])
    .execute();
}

export async function countPeerListings(db: Db): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('peer_listings')
    .select(['peer_id', (eb) => eb.fn.countAll<number | string | bigint>().as('n')])
    .groupBy('peer_id')
    .execute();
  return new Map(rows.map((r) => [r.peer_id, Number(r.n)]));
}

/** The URL of the active peer that listed `deviceId`, if one did. */
export async function findPeerListingHome(db: Db, deviceId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('peer_listings')
    .innerJoin('federation_peers', 'federation_peers.id', 'peer_listings.peer_id')
    .where('peer_listings.device_id', '=', deviceId)
    .where('federation_peers.state', '=', 'active')
    .select('federation_peers.url')
    .executeTakeFirst();
  return row?.url;
}

/** The listing of `deviceId` an active peer published, with that peer. */
export function findPeerListing(db: Db, deviceId: string): Promise<(PeerRow & { listing_json: string }) | undefined> {
  return db
    .selectFrom('peer_listings')
    .innerJoin('federation_peers', 'federation_peers.id', 'peer_listings.peer_id')
    .where('peer_listings.device_id', '=', deviceId)
    .where('federation_peers.state', '=', 'active')
    .selectAll('federation_peers')
    .select('peer_listings.listing_json')
    .executeTakeFirst();
}
