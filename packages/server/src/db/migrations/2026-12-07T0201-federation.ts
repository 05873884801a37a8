import type { Kysely } from 'kysely';

/**
 * Federation (docs/federation.md): the peers an operator linked, pinned by their key's
 * fingerprint; the nonces of signed server-to-server requests accepted within the clock
 * window, kept in the database so every node of a cluster refuses a replay; and the
 * listings each peer published, as the signed JSON it sent (a third server can verify it).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('federation_peers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('url', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull().unique())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('fee_bps', 'integer')
    .addColumn('linked_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('last_sync_at', 'text')
    .addColumn('last_error', 'text')
    .execute();
  await db.schema
    .createTable('federation_nonces')
    .addColumn('peer_id', 'text', (c) => c.notNull())
    .addColumn('nonce', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('federation_nonces_pk', ['peer_id', 'nonce'])
    .execute();
  await db.schema.createIndex('federation_nonces_expiry').on('federation_nonces').column('expires_at').execute();
  await db.schema
    .createTable('peer_listings')
    .addColumn('peer_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('listing_json', 'text', (c) => c.notNull())
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('peer_listings_pk', ['peer_id', 'device_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('peer_listings').execute();
  await db.schema.dropTable('federation_nonces').execute();
  await db.schema.dropTable('federation_peers').execute();
}
