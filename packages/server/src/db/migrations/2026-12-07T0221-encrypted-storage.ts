import type { Kysely } from 'kysely';

/**
 * Renter-held encryption (docs/encryption.md): whether a rental's storage is encrypted, and
 * whether a device's encrypted rental is locked waiting for its renter's secret. The secret
 * itself is never stored: the server holds it in memory only (domain/rentals/storage-secrets.ts).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('rentals')
    .addColumn('encrypted', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('devices').addColumn('storage_locked', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('devices').dropColumn('storage_locked').execute();
  await db.schema.alterTable('rentals').dropColumn('encrypted').execute();
}
