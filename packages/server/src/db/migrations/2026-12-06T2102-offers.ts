import type { Kysely } from 'kysely';

/**
 * What one rental gets: the owner's offer on the device (JSON; NULL means the default, see
 * domain/devices/offer.ts) and, on each rental, the offer it was rented with, so a change of
 * offer never changes a running rental. Rentals made before this have none and show nothing.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('devices').addColumn('offer', 'text').execute();
  await db.schema.alterTable('rentals').addColumn('offer', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rentals').dropColumn('offer').execute();
  await db.schema.alterTable('devices').dropColumn('offer').execute();
}
