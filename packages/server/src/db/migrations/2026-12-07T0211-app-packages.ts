import type { Kysely } from 'kysely';

/**
 * Deployment packages (docs/packages.md): on a rental, the package it was rented with (JSON
 * DesiredApp: the recipe as it was then and every setting) and how far the agent got with it
 * (state, the end of its log); on a device, the packages its owner refuses (JSON array).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rentals').addColumn('app', 'text').execute();
  await db.schema.alterTable('rentals').addColumn('app_state', 'text').execute();
  await db.schema.alterTable('rentals').addColumn('app_log', 'text').execute();
  await db.schema.alterTable('devices').addColumn('refused_packages', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('devices').dropColumn('refused_packages').execute();
  await db.schema.alterTable('rentals').dropColumn('app_log').execute();
  await db.schema.alterTable('rentals').dropColumn('app_state').execute();
  await db.schema.alterTable('rentals').dropColumn('app').execute();
}
