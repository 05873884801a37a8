import type { Db } from './database.ts';

/**
 * Runs `fn` in one database transaction and returns what it returns; the change is all or
 * nothing. Called inside a transaction already, `fn` joins it. Every transaction opens here,
 * so how they run (an isolation level, retrying one the database gave up on) is decided in
 * one place: `fn` must therefore do nothing outside the database that cannot be done twice,
 * and tell devices and users after it returns.
 */
export function inTransaction<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}
