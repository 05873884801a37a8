import { sql } from 'kysely';
import type { Db } from './database.ts';
import type { MailMessagesTable } from './schema.ts';

export type MailRow = MailMessagesTable;
export type NewMail = Pick<
  MailRow,
  'id' | 'dedup_key' | 'kind' | 'user_id' | 'to_address' | 'subject' | 'text_body' | 'html_body' | 'created_at'
>;

/** Queues a mail; false when one with the same dedup key is already there (the notice was sent before). */
export async function insertMail(db: Db, mail: NewMail): Promise<boolean> {
  const res = await db
    .insertInto('mail_messages')
    .values({ ...mail, state: 'queued', attempts: 0, next_attempt_at: mail.created_at, last_error: null, sent_at: null })
    .onConflict((oc) => oc.column('dedup_key').doNothing())
    .executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0n) === 1;
}

/** Queued mails due by `now`, oldest first. */
export function listDueMail(db: Db, now: string, limit: number): Promise<MailRow[]> {
  return db
    .selectFrom('mail_messages')
    .selectAll()
    .where('state', '=', 'queued')
    .where('next_attempt_at', '<=', now)
    .orderBy('next_attempt_at')
    .orderBy('id')
    .limit(limit)
    .execute();
}

export async function updateMail(db: Db, id: string, changes: Partial<Omit<MailRow, 'id'>>): Promise<void> {
  await db.updateTable('mail_messages').set(changes).where('id', '=', id).execute();
}

/** The mails, newest first, optionally in one state. */
export function listMail(db: Db, q: { state?: MailRow['state']; limit: number }): Promise<MailRow[]> {
  let query = db.selectFrom('mail_messages').selectAll();
  if (q.state) query = query.where('state', '=', q.state);
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(q.limit).execute();
}

/** `prefix || column || ':' || column2…` as SQL, the same on SQLite and PostgreSQL: a dedup key built in a query. */
export function dedupKeyExpr(prefix: string, ...columns: string[]) {
  return sql<string>`${prefix} || ${sql.join(
    columns.map((c) => sql.ref(c)),
    sql` || ':' || `,
  )}`;
}
