import type { Kysely } from 'kysely';

/** Why a device's renter storage cannot be used, as its agent last reported; a device with one is not listed. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('devices').addColumn('storage_fault', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('devices').dropColumn('storage_fault').execute();
}
