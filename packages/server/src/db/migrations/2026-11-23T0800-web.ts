import type { Kysely } from 'kysely';
import { newWebName } from '../../domain/secrets.ts';

/** Each device's public web name, and the bytes each rental moved through the front doors and tunnel. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('devices').addColumn('web_name', 'text').execute();
  // SQLite cannot add a UNIQUE column; a unique index does the same on both databases.
  await db.schema.createIndex('devices_web_name').on('devices').column('web_name').unique().execute();
  const existing = await db.selectFrom('devices').select('id').execute();
  for (const { id } of existing) {
    await db.updateTable('devices').set({ web_name: newWebName() }).where('id', '=', id).execute();
  }
  await db.schema
    .alterTable('rentals')
    .addColumn('bytes_in', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('rentals')
    .addColumn('bytes_out', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rentals').dropColumn('bytes_out').execute();
  await db.schema.alterTable('rentals').dropColumn('bytes_in').execute();
  await db.schema.dropIndex('devices_web_name').execute();
  await db.schema.alterTable('devices').dropColumn('web_name').execute();
}
