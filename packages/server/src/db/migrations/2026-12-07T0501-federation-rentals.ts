import type { Kysely } from 'kysely';

/**
 * Cross-server rentals (docs/federation.md). At the device's server (B) a peer's rental is an
 * ordinary rental whose renter is the peer's account, marked with the peer and A's request
 * ID (unique together: a repeated offer finds the same rental), the guarantee covering it,
 * and how far A has acknowledged its state changes. At the renter's server (A) it is a
 * remote rental, apart from `rentals` (whose device is one of ours). Both keep every usage
 * report with its ack; B keeps a credit limit per peer.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rentals').addColumn('origin_peer_id', 'text').execute();
  await db.schema.alterTable('rentals').addColumn('origin_request_id', 'text').execute();
  await db.schema.alterTable('rentals').addColumn('guarantee_until', 'text').execute();
  await db.schema
    .alterTable('rentals')
    .addColumn('origin_state_seq', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('rentals').addColumn('origin_state_sent', 'text').execute();
  await db.schema.createIndex('rentals_origin_request').on('rentals').columns(['origin_peer_id', 'origin_request_id']).unique().execute();
  await db.schema.alterTable('federation_peers').addColumn('credit_limit_micros', 'bigint').execute();
  await db.schema.alterTable('federation_peers').addColumn('over_limit_at', 'text').execute();

  await db.schema
    .createTable('remote_rentals')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('renter_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('peer_id', 'text', (c) => c.notNull())
    .addColumn('remote_rental_id', 'text')
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('device_name', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('end_reason', 'text')
    .addColumn('detail', 'text')
    .addColumn('price_per_hour_micros', 'bigint', (c) => c.notNull())
    .addColumn('fee_bps', 'integer', (c) => c.notNull())
    .addColumn('hours', 'integer')
    .addColumn('username', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('password_sealed', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('ssh_public_key', 'text')
    .addColumn('ssh_host', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('ssh_port', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('web_host', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('http_url', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('https_url', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('offer_json', 'text', (c) => c.notNull())
    .addColumn('state_seq', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('billed_minutes', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('charged_micros', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('guarantee_until', 'text')
    .addColumn('end_requested', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('activated_at', 'text')
    .addColumn('ended_at', 'text')
    .execute();
  await db.schema.createIndex('remote_rentals_renter').on('remote_rentals').columns(['renter_id', 'created_at']).execute();
  await db.schema.createIndex('remote_rentals_remote').on('remote_rentals').columns(['peer_id', 'remote_rental_id']).unique().execute();

  await db.schema
    .createTable('federation_usage')
    .addColumn('peer_id', 'text', (c) => c.notNull())
    .addColumn('rental_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('report_json', 'text', (c) => c.notNull())
    .addColumn('report_hash', 'text', (c) => c.notNull())
    .addColumn('amount_micros', 'bigint', (c) => c.notNull())
    .addColumn('ack_json', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('federation_usage_pk', ['peer_id', 'rental_id', 'seq'])
    .execute();
  // Statements (issued by the creditor, received by the debtor) and settlements (sent by the debtor, receipted by the creditor), as signed.
  await db.schema
    .createTable('federation_statements')
    .addColumn('hash', 'text', (c) => c.primaryKey())
    .addColumn('peer_id', 'text', (c) => c.notNull())
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('statement_json', 'text', (c) => c.notNull())
    .addColumn('closing_micros', 'bigint', (c) => c.notNull())
    .addColumn('period_to', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('ack_json', 'text')
    .addColumn('problem', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('federation_statements_peer')
    .on('federation_statements')
    .columns(['peer_id', 'direction', 'created_at'])
    .execute();
  await db.schema
    .createTable('federation_settlements')
    .addColumn('settlement_id', 'text', (c) => c.primaryKey())
    .addColumn('peer_id', 'text', (c) => c.notNull())
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('settlement_json', 'text', (c) => c.notNull())
    .addColumn('amount_micros', 'bigint', (c) => c.notNull())
    .addColumn('receipt_json', 'text')
    .addColumn('receipt_hash', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('federation_usage_unacked').on('federation_usage').columns(['peer_id', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('federation_settlements').execute();
  await db.schema.dropTable('federation_statements').execute();
  await db.schema.dropTable('federation_usage').execute();
  await db.schema.dropTable('remote_rentals').execute();
  await db.schema.dropIndex('rentals_origin_request').execute();
  for (const column of ['origin_peer_id', 'origin_request_id', 'guarantee_until', 'origin_state_seq', 'origin_state_sent'])
    await db.schema.alterTable('rentals').dropColumn(column).execute();
  await db.schema.alterTable('federation_peers').dropColumn('credit_limit_micros').execute();
  await db.schema.alterTable('federation_peers').dropColumn('over_limit_at').execute();
}
