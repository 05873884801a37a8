import type { Kysely } from 'kysely';

/**
 * The server's federation signing key, shared by every node of a cluster: one row, the key
 * file's content sealed with the secret box (a copy of the database alone holds no usable
 * key), and a version each rotation raises, so two rotations at once cannot both win.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('federation_server_key')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('sealed_key', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('federation_server_key').execute();
}
