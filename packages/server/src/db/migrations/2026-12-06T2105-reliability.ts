import type { Kysely } from 'kysely';
import { isPostgres } from '../postgres.ts';

/**
 * Device reliability (docs/reliability.md). Per device and UTC day, the time it was
 * expected online (on the market or rented), was online, and was down inside a declared
 * maintenance window, with its failed container starts and lost rentals: the market reads
 * a score materialized on the device row from at most 30 of these rows per device, never
 * the events behind them. Incidents (a failed start, a lost rental) are also kept one by
 * one, with their rental, for the owner and for disputes. Maintenance windows are declared
 * by the owner ahead of time.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('device_reliability_days')
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('day', 'text', (c) => c.notNull())
    .addColumn('expected_ms', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('online_ms', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('maintenance_ms', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('failed_starts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('lost_rentals', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('device_reliability_days_pk', ['device_id', 'day'])
    .execute();
  await db.schema.createIndex('device_reliability_days_day').on('device_reliability_days').column('day').execute();
  await db.schema
    .createTable('device_incidents')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('rental_id', 'text')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('detail', 'text')
    .addColumn('at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('device_incidents_device_at').on('device_incidents').columns(['device_id', 'at']).execute();
  await db.schema
    .createTable('maintenance_windows')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('starts_at', 'text', (c) => c.notNull())
    .addColumn('ends_at', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('cancelled_at', 'text')
    .execute();
  await db.schema.createIndex('maintenance_windows_device_ends').on('maintenance_windows').columns(['device_id', 'ends_at']).execute();
  // SQLite's REAL is a double; PostgreSQL's is a single (six digits), so it says double precision.
  await db.schema
    .alterTable('devices')
    .addColumn('reliability_percent', isPostgres(db) ? 'double precision' : 'real')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('devices').dropColumn('reliability_percent').execute();
  await db.schema.dropTable('maintenance_windows').execute();
  await db.schema.dropTable('device_incidents').execute();
  await db.schema.dropTable('device_reliability_days').execute();
}
