import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from './database.ts';
import { isPostgres, isRetryableConflict } from './postgres.ts';

/** Attempts at a transaction that keeps losing to concurrent ones, before its error is the caller's. */
const maxAttempts = 12;

/**
 * Runs `fn` as one database transaction, as if no other ran at the same time, on both
 * databases; inside a transaction already, `fn` joins it.
 *
 * SQLite has one writer: its transactions already run one after another. On PostgreSQL
 * they run side by side (several connections, several server nodes), so they run
 * SERIALIZABLE: the rules read and then write (is the balance enough, which minutes are not
 * billed yet, is the payout still open, is the rental still active), and serializable
 * isolation makes PostgreSQL refuse any transaction whose reads another changed meanwhile,
 * without each rule having to name the rows it must lock (a forgotten `FOR UPDATE` would
 * be a silent money bug; here the worst is a retry). A refused transaction has written
 * nothing and runs again, from the start, after a short random wait, so `fn` must do
 * nothing outside the database that cannot be done twice (nudges and mail come after).
 */
export async function inTransaction<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
  if (db.isTransaction) return fn(db);
  if (!isPostgres(db)) return db.transaction().execute(fn);
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().setIsolationLevel('serializable').execute(fn);
    } catch (err) {
      if (!isRetryableConflict(err) || attempt >= maxAttempts) throw err;
      // Up to 5 ms, 10, 20… 320: the winners finish meanwhile, and the losers spread out.
      await sleep(Math.random() * 5 * 2 ** Math.min(attempt - 1, 6));
    }
  }
}
