import type { Db } from './database.ts';
import type { FederationServerKeyTable } from './schema.ts';

export type ServerKeyRow = FederationServerKeyTable;

/** The one row's ID: a server has one signing identity however many nodes it runs on. */
const rowId = 'server';

export function findServerKey(db: Db): Promise<ServerKeyRow | undefined> {
  return db.selectFrom('federation_server_key').selectAll().where('id', '=', rowId).executeTakeFirst();
}

/** Stores the first key unless a node stored one already (nodes starting at once): the first wins. */
export async function insertServerKeyIfAbsent(db: Db, sealedKey: string, at: string): Promise<void> {
  await db
    .insertInto('federation_server_key')
    .values({ id: rowId, sealed_key: sealedKey, version: 1, updated_at: at })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/** Replaces the key only if it is still at `version`; false when another rotation won. */
export async function replaceServerKey(db: Db, version: number, sealedKey: string, at: string): Promise<boolean> {
  const updated = await db
    .updateTable('federation_server_key')
    .set({ sealed_key: sealedKey, version: version + 1, updated_at: at })
    .where('id', '=', rowId)
    .where('version', '=', version)
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) === 1;
}
