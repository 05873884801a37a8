import type { Kysely } from 'kysely';

/** A prepaid rental may renew itself for its term, paid from the renter's balance (domain/rentals/auto-renew.ts). */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('rentals')
    .addColumn('auto_renew', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  /** The term one renewal adds, in hours: what the renter first rented. */
  await db.schema.alterTable('rentals').addColumn('term_hours', 'integer').execute();
  await db
    .updateTable('rentals')
    .set((eb) => ({ term_hours: eb.ref('hours') }))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rentals').dropColumn('term_hours').execute();
  await db.schema.alterTable('rentals').dropColumn('auto_renew').execute();
}
