import type { Db } from './database.ts';

/** A lease as a node holds it: the fencing token names this tenure, `expiresAt` is what the row says. */
export interface HeldLease {
  token: number;
  expiresAt: string;
}

export interface LeaseRow {
  name: string;
  holderNode: string;
  token: number;
  acquiredAt: string;
  expiresAt: string;
}

/**
 * Takes the lease `name` for `node` until `expiresAt` if nobody else holds it: a new row
 * (token 1), or an expired one or its own (token + 1). Each is one statement, a compare-and-set the database
 * decides (a unique key for the insert, the row's own expiry for the update), so of nodes
 * trying at once exactly one wins, on SQLite and PostgreSQL alike. ISO times in UTC with
 * milliseconds compare as text in time order. Null when someone else holds it.
 */
export async function acquireLease(db: Db, name: string, node: string, now: string, expiresAt: string): Promise<HeldLease | null> {
  const inserted = await db
    .insertInto('cluster_leases')
    .values({ name, holder_node: node, fencing_token: 1, acquired_at: now, expires_at: expiresAt })
    .onConflict((oc) => oc.column('name').doNothing())
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 1) return { token: 1, expiresAt };
  const taken = await db
    .updateTable('cluster_leases')
    .set((eb) => ({
      holder_node: node,
      fencing_token: eb('fencing_token', '+', 1),
      acquired_at: now,
      expires_at: expiresAt,
    }))
    .where('name', '=', name)
    // Its own row too: a node that lost it (a late renewal) or restarted under the same
    // --node-id takes it back at once, under a new token that fences its earlier work.
    .where((eb) => eb.or([eb('expires_at', '<=', now), eb('holder_node', '=', node)]))
    .returning('fencing_token')
    .executeTakeFirst();
  return taken ? { token: Number(taken.fencing_token), expiresAt } : null;
}

/**
 * Extends the lease while this node still holds it under `token` and it has not run out: a
 * lease that ran out is not renewed even if nobody took it, since the holder stopped its
 * work when it did (it acquires again, under a new token). False when it was lost.
 */
export async function renewLease(db: Db, name: string, node: string, token: number, now: string, expiresAt: string): Promise<boolean> {
  const renewed = await db
    .updateTable('cluster_leases')
    .set({ expires_at: expiresAt })
    .where('name', '=', name)
    .where('holder_node', '=', node)
    .where('fencing_token', '=', token)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(renewed.numUpdatedRows) === 1;
}

/**
 * The fence, run inside the transaction of a holder's work: true while the row still names
 * this holder and token. It is a write of the row (to the value it has), so on PostgreSQL it
 * locks the row until the transaction ends: a node taking the lease over waits for this
 * transaction, or this one finds the new token and must roll back. On SQLite any write
 * serializes the transactions anyway.
 */
export async function confirmLease(trx: Db, name: string, node: string, token: number): Promise<boolean> {
  const held = await trx
    .updateTable('cluster_leases')
    .set((eb) => ({ fencing_token: eb.ref('fencing_token') }))
    .where('name', '=', name)
    .where('holder_node', '=', node)
    .where('fencing_token', '=', token)
    .executeTakeFirst();
  return Number(held.numUpdatedRows) === 1;
}

/** Lets go at shutdown, so that another node (or this one restarted) takes over at once instead of after the TTL. */
export async function releaseLease(db: Db, name: string, node: string, token: number, now: string): Promise<void> {
  await db
    .updateTable('cluster_leases')
    .set({ expires_at: now })
    .where('name', '=', name)
    .where('holder_node', '=', node)
    .where('fencing_token', '=', token)
    .execute();
}

export async function findLease(db: Db, name: string): Promise<LeaseRow | undefined> {
  const row = await db.selectFrom('cluster_leases').selectAll().where('name', '=', name).executeTakeFirst();
  return (
    row && {
      name: row.name,
      holderNode: row.holder_node,
      token: Number(row.fencing_token),
      acquiredAt: row.acquired_at,
      expiresAt: row.expires_at,
    }
  );
}
