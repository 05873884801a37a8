import { sql, type Kysely } from 'kysely';

/**
 * The chain rails, hardened (audit M7):
 * - a deposit address remembers when its renter last asked to top up (`requested_at`), so
 *   the Bitcoin scanner reads only addresses with a recent request, not every address;
 * - a watcher's cursor keeps the hashes of the last blocks it scanned (`recent_blocks`, JSON),
 *   so a restart or the next batch notices a reorg and rewinds to where the chains agree;
 * - exchange rates the operator feeds, with when each was set and the one before it, so a
 *   rail refuses a stale rate or one that jumped past the sanity band.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('deposit_addresses').addColumn('requested_at', 'text').execute();
  await sql`update deposit_addresses set requested_at = created_at`.execute(db);
  await db.schema.createIndex('deposit_addresses_requested').on('deposit_addresses').columns(['rail', 'requested_at']).execute();
  await db.schema.alterTable('rail_cursors').addColumn('recent_blocks', 'text').execute();
  await db.schema
    .createTable('exchange_rates')
    /** The coin's symbol as renters see it: ETH, BTC, or the configured token's (USDC). */
    .addColumn('coin', 'text', (c) => c.primaryKey())
    /** Marketplace currency per one whole coin, an exact decimal string. */
    .addColumn('rate', 'text', (c) => c.notNull())
    .addColumn('set_at', 'text', (c) => c.notNull())
    /** The rate it replaced: a move past the band from it needs the operator to set the rate again. */
    .addColumn('previous_rate', 'text')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('exchange_rates').execute();
  await db.schema.alterTable('rail_cursors').dropColumn('recent_blocks').execute();
  await db.schema.dropIndex('deposit_addresses_requested').execute();
  await db.schema.alterTable('deposit_addresses').dropColumn('requested_at').execute();
}
