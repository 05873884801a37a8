import type { Kysely } from 'kysely';

/**
 * The double-entry ledger: accounts, transactions of balanced entries, and per-rental
 * metering state. Amounts are signed bigint micro-units of the marketplace currency.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('ledger_accounts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.references('users.id'))
    .addColumn('rail', 'text')
    /** kind|user|rail: one account of a kind per user or rail. */
    .addColumn('key', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('ledger_transactions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    /** rail:eventId for money from outside: a redelivered event finds its key taken. */
    .addColumn('external_key', 'text', (c) => c.unique())
    .addColumn('rental_id', 'text')
    .addColumn('memo', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('ledger_entries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('transaction_id', 'text', (c) => c.notNull().references('ledger_transactions.id'))
    .addColumn('account_id', 'text', (c) => c.notNull().references('ledger_accounts.id'))
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('ledger_entries_account').on('ledger_entries').columns(['account_id', 'created_at']).execute();
  await db.schema.createIndex('ledger_entries_transaction').on('ledger_entries').column('transaction_id').execute();
  await db.schema.createIndex('ledger_transactions_rental').on('ledger_transactions').column('rental_id').execute();

  // Metering: whole minutes billed so far, when billing last advanced, and what it came to.
  for (const [name, type] of [
    ['billed_minutes', 'integer'],
    ['charged_micros', 'bigint'],
    ['fee_micros', 'bigint'],
  ] as const) {
    await db.schema
      .alterTable('rentals')
      .addColumn(name, type, (c) => c.notNull().defaultTo(0))
      .execute();
  }
  await db.schema.alterTable('rentals').addColumn('billed_until', 'text').execute();
  await db.schema.alterTable('rentals').addColumn('price_per_hour_micros', 'bigint').execute();
  await db.schema.alterTable('rentals').addColumn('fee_bps', 'integer').execute();
  await db.schema.alterTable('rentals').addColumn('balance_exhausted_at', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const name of [
    'balance_exhausted_at',
    'fee_bps',
    'price_per_hour_micros',
    'billed_until',
    'fee_micros',
    'charged_micros',
    'billed_minutes',
  ]) {
    await db.schema.alterTable('rentals').dropColumn(name).execute();
  }
  for (const table of ['ledger_entries', 'ledger_transactions', 'ledger_accounts']) await db.schema.dropTable(table).execute();
}
