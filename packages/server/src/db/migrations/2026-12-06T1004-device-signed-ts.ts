import type { Kysely } from 'kysely';

/**
 * The highest signature timestamp (unix ms) accepted from each device: a device request
 * must sign a newer one, so a captured request cannot be replayed, not even after a restart
 * (it replaces a cache in memory).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('devices').addColumn('last_signed_ts', 'bigint').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('devices').dropColumn('last_signed_ts').execute();
}
