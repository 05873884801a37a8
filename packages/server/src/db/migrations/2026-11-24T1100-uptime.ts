import type { Kysely } from 'kysely';

/**
 * Device uptime, for the marketplace: since when its tunnel is up (null while down), the
 * milliseconds it was up before that, and since when it is tracked (its enrolment, or now
 * for devices enrolled before this migration).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('devices').addColumn('online_since', 'text').execute();
  await db.schema
    .alterTable('devices')
    .addColumn('online_ms', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('devices').addColumn('uptime_tracked_since', 'text').execute();
  await db.updateTable('devices').set({ uptime_tracked_since: new Date().toISOString() }).where('enrolled_at', 'is not', null).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const column of ['uptime_tracked_since', 'online_ms', 'online_since'])
    await db.schema.alterTable('devices').dropColumn(column).execute();
}
