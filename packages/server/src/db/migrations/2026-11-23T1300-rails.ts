import type { Kysely } from 'kysely';

/**
 * The payment rails' state that must outlive a restart: each renter's deposit address on a
 * rail (derived from the operator's extended public key at a per-rail index), and how far
 * each chain watcher has scanned. Plain portable SQL: the same on SQLite and PostgreSQL.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('deposit_addresses')
    .addColumn('rail', 'text', (c) => c.notNull())
    /** The derivation index (…/0/index): a lost race for the next one fails on the primary key and retries. */
    .addColumn('derivation_index', 'integer', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    /** As the chain spells it in lookups: lower-case hex for Ethereum, bech32 (lower-case) for Bitcoin. */
    .addColumn('address', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('deposit_addresses_pk', ['rail', 'derivation_index'])
    .addUniqueConstraint('deposit_addresses_rail_user', ['rail', 'user_id'])
    .execute();
  await db.schema
    .createTable('rail_cursors')
    .addColumn('rail', 'text', (c) => c.primaryKey())
    /** The last block (number or height) whose deposits have all been handed to the ledger. */
    .addColumn('position', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('rail_cursors').execute();
  await db.schema.dropTable('deposit_addresses').execute();
}
