import { sql, type Kysely } from 'kysely';

/**
 * A running balance on each ledger account, kept in the same transaction as its entries,
 * so reading a balance no longer sums an account's whole history (which grows by an
 * entry per rental per minute). The entries stay the record; tests check the two agree.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('ledger_accounts')
    .addColumn('balance', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`update ledger_accounts set balance = (select coalesce(sum(amount), 0) from ledger_entries where account_id = ledger_accounts.id)`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('ledger_accounts').dropColumn('balance').execute();
}
