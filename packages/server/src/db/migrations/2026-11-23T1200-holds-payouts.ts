import type { Kysely } from 'kysely';

/**
 * Prepaid terms, lost devices and payouts:
 * - ledger accounts may belong to one rental (a prepaid term's hold);
 * - a rental remembers since when its device has been offline, so the meter can end it
 *   as `device_lost` after the grace, and when its renter was warned that the balance runs low;
 * - owners' payout requests, which the operator marks paid with the rail and its reference.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('ledger_accounts').addColumn('rental_id', 'text').execute();
  await db.schema.createIndex('ledger_accounts_user').on('ledger_accounts').columns(['user_id', 'kind']).execute();
  await db.schema.alterTable('rentals').addColumn('offline_since', 'text').execute();
  // The meter walks active rentals in ID order, a batch at a time.
  await db.schema.createIndex('rentals_state_id').on('rentals').columns(['state', 'id']).execute();
  await db.schema.alterTable('rentals').addColumn('balance_low_at', 'text').execute();
  await db.schema
    .createTable('payouts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('amount_micros', 'bigint', (c) => c.notNull())
    /** requested → paid, or requested → cancelled (the money goes back to the owner's earnings). */
    .addColumn('state', 'text', (c) => c.notNull())
    /** Where the owner wants the money (an email for PayPal, an address): their words, shown to the operator. */
    .addColumn('destination', 'text', (c) => c.notNull())
    .addColumn('rail', 'text')
    .addColumn('reference', 'text')
    .addColumn('requested_at', 'text', (c) => c.notNull())
    .addColumn('settled_at', 'text')
    .execute();
  await db.schema.createIndex('payouts_user').on('payouts').columns(['user_id', 'requested_at']).execute();
  await db.schema.createIndex('payouts_state').on('payouts').columns(['state', 'requested_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('payouts').execute();
  await db.schema.alterTable('rentals').dropColumn('balance_low_at').execute();
  await db.schema.dropIndex('rentals_state_id').execute();
  await db.schema.alterTable('rentals').dropColumn('offline_since').execute();
  await db.schema.dropIndex('ledger_accounts_user').execute();
  await db.schema.alterTable('ledger_accounts').dropColumn('rental_id').execute();
}
