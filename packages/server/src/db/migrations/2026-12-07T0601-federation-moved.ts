import type { Kysely } from 'kysely';

/**
 * A rental across servers whose device moved to a backup (docs/federation.md, "The join"):
 * the renter's server keeps the backups the device's server's signed listing named when the
 * rental was made (`backups_json`), and, beside the device's server's own addresses, where a
 * backup serves the rental now (`moved_json`: {server, ssh:{host, port}, webHost, httpUrl, at}),
 * shown instead until the device's server reports minutes it served itself again.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('remote_rentals').addColumn('backups_json', 'text').execute();
  await db.schema.alterTable('remote_rentals').addColumn('moved_json', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('remote_rentals').dropColumn('moved_json').execute();
  await db.schema.alterTable('remote_rentals').dropColumn('backups_json').execute();
}
