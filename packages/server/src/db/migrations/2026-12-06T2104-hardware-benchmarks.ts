import type { Kysely } from 'kysely';

/**
 * Verified hardware: each benchmark challenge the server issued (its nonce is the key, so
 * a nonce is accepted once), with the device's signed figures and the verdict once it
 * answered; and on the device, why its claims failed the last check (kept off the market
 * while set) and when it is next due.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('hardware_benchmarks')
    .addColumn('nonce', 'text', (c) => c.primaryKey())
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
    .addColumn('issued_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('answered_at', 'text')
    .addColumn('figures', 'text')
    .addColumn('signature', 'text')
    .addColumn('verification', 'text')
    .execute();
  await db.schema.createIndex('hardware_benchmarks_device').on('hardware_benchmarks').columns(['device_id', 'issued_at']).execute();
  await db.schema.alterTable('devices').addColumn('hardware_flag', 'text').execute();
  await db.schema.alterTable('devices').addColumn('hardware_verification', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('devices').dropColumn('hardware_verification').execute();
  await db.schema.alterTable('devices').dropColumn('hardware_flag').execute();
  await db.schema.dropTable('hardware_benchmarks').execute();
}
