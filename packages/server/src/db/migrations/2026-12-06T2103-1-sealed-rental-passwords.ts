import type { Kysely } from 'kysely';

/**
 * Rental passwords leave the database's plain text: `password` becomes `password_sealed`
 * (AES-256-GCM under the data dir's key, secret-box.ts), and `password_crypt` holds the
 * `$6$` hash the device is given instead of the password. A migration cannot reach the key
 * file, so the server seals the rows still in clear, and hashes them, at its start right
 * after migrating (domain/rentals/rental-passwords.ts: sealLegacyPasswords), before it
 * answers any request. Ended rentals' passwords open nothing any more: they are dropped here.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rentals').renameColumn('password', 'password_sealed').execute();
  await db.schema
    .alterTable('rentals')
    .addColumn('password_crypt', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.updateTable('rentals').set({ password_sealed: '' }).where('state', '=', 'ended').execute();
}

/** Back to one column; passwords sealed meanwhile stay sealed (the older server shows them as such). */
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rentals').dropColumn('password_crypt').execute();
  await db.schema.alterTable('rentals').renameColumn('password_sealed', 'password').execute();
}
