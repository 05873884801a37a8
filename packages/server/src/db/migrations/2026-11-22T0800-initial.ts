import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_used_at', 'text')
    .execute();

  await db.schema
    .createTable('devices')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.unique())
    .addColumn('hardware', 'text')
    .addColumn('ssh_port', 'integer', (c) => c.unique())
    .addColumn('price_per_hour_micros', 'bigint')
    .addColumn('on_market', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('online', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('enrolled_at', 'text')
    .addColumn('last_heartbeat_at', 'text')
    .addColumn('last_seen_at', 'text')
    .addColumn('listed_since', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('removed_at', 'text')
    .execute();
  await db.schema.createIndex('devices_owner').on('devices').column('owner_id').execute();

  await db.schema
    .createTable('enrolment_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('spent_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('rentals')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
    .addColumn('device_name', 'text', (c) => c.notNull())
    .addColumn('renter_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('end_reason', 'text')
    .addColumn('detail', 'text')
    .addColumn('username', 'text', (c) => c.notNull())
    .addColumn('password', 'text', (c) => c.notNull())
    .addColumn('ssh_public_key', 'text')
    .addColumn('hours', 'integer')
    .addColumn('open_device_id', 'text', (c) => c.unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('activated_at', 'text')
    .addColumn('expires_at', 'text')
    .addColumn('ended_at', 'text')
    .execute();
  await db.schema.createIndex('rentals_renter').on('rentals').columns(['renter_id', 'state']).execute();
  await db.schema.createIndex('rentals_state_expiry').on('rentals').columns(['state', 'expires_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['rentals', 'enrolment_tokens', 'devices', 'api_tokens', 'users']) {
    await db.schema.dropTable(table).execute();
  }
}
