import type { Kysely } from 'kysely';

/**
 * Mail: every notice the server sends is a row, queued until the transport takes it (SMTP,
 * or the outbox the operator reads when none is configured). `dedup_key` names the event a
 * notice is about, so that a notice is queued once however often its job looks. And the
 * renter's choice to get their rental password by email (off unless they turn it on).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('users')
    .addColumn('email_rental_password', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('mail_messages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('dedup_key', 'text', (c) => c.unique())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.references('users.id'))
    .addColumn('to_address', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('text_body', 'text', (c) => c.notNull())
    .addColumn('html_body', 'text', (c) => c.notNull())
    /** queued → sent (SMTP took it), outbox (no SMTP: the operator reads it), or failed (gave up). */
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'text', (c) => c.notNull())
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('sent_at', 'text')
    .execute();
  await db.schema.createIndex('mail_messages_due').on('mail_messages').columns(['state', 'next_attempt_at']).execute();
  await db.schema.createIndex('mail_messages_created').on('mail_messages').columns(['created_at', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('mail_messages').execute();
  await db.schema.alterTable('users').dropColumn('email_rental_password').execute();
}
