import { sql, type Kysely } from 'kysely';

/**
 * Email verification: an address gets notices only once its owner has opened the link
 * mailed to it. The link's token is stored hashed, with when it was sent (it expires a day
 * later). Accounts made before this count as verified: they had no way to do it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('email_verified_at', 'text').execute();
  await db.schema.alterTable('users').addColumn('email_verify_token_hash', 'text').execute();
  await db.schema.alterTable('users').addColumn('email_verify_sent_at', 'text').execute();
  await db.schema.createIndex('users_email_verify_token').on('users').column('email_verify_token_hash').execute();
  await db
    .updateTable('users')
    .set({ email_verified_at: sql`created_at` })
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('users_email_verify_token').execute();
  await db.schema.alterTable('users').dropColumn('email_verify_sent_at').execute();
  await db.schema.alterTable('users').dropColumn('email_verify_token_hash').execute();
  await db.schema.alterTable('users').dropColumn('email_verified_at').execute();
}
