import type { Kysely } from 'kysely';

/**
 * Reviews, disputes and a rental's own log.
 *
 * `reviews`: a renter's stars and comment on one rental they ran (unique per rental, so a
 * rental is rated once), with the device's owner's one answer. `disputes`: a renter's
 * complaint about one rental (unique per rental), open until the operator refunds part or
 * all of it or rejects it. `rental_events`: what the server saw happen to a rental
 * (requested, container started, device offline and back, ending with its reason, container
 * removed), the facts the operator judges a dispute by.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('reviews')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('rental_id', 'text', (c) => c.notNull().unique().references('rentals.id'))
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
    .addColumn('renter_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('stars', 'integer', (c) => c.notNull())
    .addColumn('comment', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('answer', 'text')
    .addColumn('answered_at', 'text')
    .execute();
  await db.schema.createIndex('reviews_device').on('reviews').columns(['device_id', 'created_at']).execute();
  await db.schema
    .createTable('disputes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('rental_id', 'text', (c) => c.notNull().unique().references('rentals.id'))
    .addColumn('renter_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('reason', 'text', (c) => c.notNull())
    /** open → refunded (part or all of what was paid) or rejected. */
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('opened_at', 'text', (c) => c.notNull())
    .addColumn('resolved_at', 'text')
    .addColumn('refund_micros', 'bigint', (c) => c.notNull().defaultTo(0))
    /** The part of the refund taken from the owner's earnings (the rest the marketplace bore). */
    .addColumn('owner_refund_micros', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('note', 'text')
    .execute();
  await db.schema.createIndex('disputes_state').on('disputes').columns(['state', 'opened_at']).execute();
  await db.schema
    .createTable('rental_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('rental_id', 'text', (c) => c.notNull().references('rentals.id'))
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('detail', 'text')
    .execute();
  await db.schema.createIndex('rental_events_rental').on('rental_events').columns(['rental_id', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('rental_events').execute();
  await db.schema.dropTable('disputes').execute();
  await db.schema.dropTable('reviews').execute();
}
