import type { Kysely } from 'kysely';

/**
 * Payouts the operator is paying: requested → processing (the operator claimed it, so its
 * owner can no longer cancel it while the money is on its way) → paid. `started_at` is when
 * the operator claimed it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('payouts').addColumn('started_at', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('payouts').dropColumn('started_at').execute();
}
