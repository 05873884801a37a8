import type { Kysely } from 'kysely';

/**
 * Backup peers (docs/federation.md, "Backup peers and failover"). On the backup C: the
 * peers whose devices it agreed to back up, the devices and running rentals in each home's
 * last snapshot (with the public SSH port C gave each), and the stretches C served a
 * rental, until handed back. On the home B: the agreements its peers signed (and where
 * each serves its devices), and the stretches its backups handed back, with what B owes
 * them: a record a ledger can post later.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('federation_backup_homes')
    .addColumn('peer_id', 'text', (c) => c.primaryKey())
    .addColumn('max_devices', 'integer', (c) => c.notNull())
    .addColumn('fee_bps', 'integer', (c) => c.notNull())
    .addColumn('granted_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('federation_backup_devices')
    .addColumn('device_id', 'text', (c) => c.primaryKey())
    .addColumn('home_peer_id', 'text', (c) => c.notNull())
    .addColumn('agent_public_key', 'text', (c) => c.notNull())
    .addColumn('ssh_port', 'integer', (c) => c.notNull().unique())
    .addColumn('web_name', 'text', (c) => c.notNull().unique())
    .addColumn('rental_json', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('federation_backup_devices_home').on('federation_backup_devices').column('home_peer_id').execute();
  await db.schema
    .createTable('federation_backup_service')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('home_peer_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('rental_id', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('ended_at', 'text')
    .addColumn('minutes', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('handed_back_at', 'text')
    .addColumn('amount_micros', 'text')
    .addColumn('fee_micros', 'text')
    .execute();
  await db.schema
    .createTable('federation_backup_agreements')
    .addColumn('peer_id', 'text', (c) => c.primaryKey())
    .addColumn('agreement_json', 'text', (c) => c.notNull())
    .addColumn('valid_until', 'text', (c) => c.notNull())
    .addColumn('assignments_json', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('federation_backup_handbacks')
    .addColumn('peer_id', 'text', (c) => c.notNull())
    .addColumn('service_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('rental_id', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('ended_at', 'text', (c) => c.notNull())
    .addColumn('minutes', 'integer', (c) => c.notNull())
    .addColumn('amount_micros', 'text', (c) => c.notNull())
    .addColumn('fee_bps', 'integer', (c) => c.notNull())
    .addColumn('fee_micros', 'text', (c) => c.notNull())
    .addColumn('handback_json', 'text', (c) => c.notNull())
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('federation_backup_handbacks_pk', ['peer_id', 'service_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    'federation_backup_handbacks',
    'federation_backup_agreements',
    'federation_backup_service',
    'federation_backup_devices',
    'federation_backup_homes',
  ])
    await db.schema.dropTable(t).execute();
}
