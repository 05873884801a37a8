import type { Kysely } from 'kysely';

/**
 * What the dashboard needs: browser sessions are API tokens of kind `session` that expire
 * (sent as an HttpOnly cookie, never shown); and public SSH keys saved on the account, to
 * pick when renting.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('api_tokens')
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('api'))
    .execute();
  await db.schema.alterTable('api_tokens').addColumn('expires_at', 'text').execute();
  await db.schema.createIndex('api_tokens_user').on('api_tokens').columns(['user_id', 'kind']).execute();
  await db.schema
    .createTable('ssh_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('ssh_keys_user').on('ssh_keys').columns(['user_id', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('ssh_keys').execute();
  await db.schema.dropIndex('api_tokens_user').execute();
  await db.schema.alterTable('api_tokens').dropColumn('expires_at').execute();
  await db.schema.alterTable('api_tokens').dropColumn('kind').execute();
}
