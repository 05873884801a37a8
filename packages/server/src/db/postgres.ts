import pg from 'pg';
import { Kysely, PostgresAdapter, PostgresDialect } from 'kysely';
import type { Database } from './schema.ts';

/** `postgres://` and `postgresql://` URLs name a PostgreSQL database; anything else is SQLite. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

/** Whether `db` (a database or a transaction on one) runs on PostgreSQL. */
export function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

// PostgreSQL's type OIDs whose text node-postgres leaves as strings by default.
const int8Oid = 20;
const numericOid = 1700;

/**
 * Integers come back as JavaScript numbers, as they do from SQLite, so the code sees one
 * type on both databases. Money is integer micro-units and the ledger does its arithmetic
 * in bigint from these numbers: a number is exact up to 2^53 micro-units (9 billion units
 * of the currency) and a larger value throws instead of being rounded, so a sum can never
 * be silently wrong. (Returning bigint instead would change every row type the code reads
 * on SQLite too, for amounts it will not reach.)
 */
export function exactNumber(text: string): number {
  const value = Number(text);
  if (/^-?\d+$/.test(text) && !Number.isSafeInteger(value))
    throw new RangeError(`the database returned ${text}, beyond what a number holds exactly`);
  return value;
}

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    // sum() of bigints is numeric; counts and bigint columns are int8.
    if (oid === int8Oid || oid === numericOid) return exactNumber;
    return pg.types.getTypeParser(oid, format);
  },
};

/**
 * Kysely on a pool of PostgreSQL connections. `destroy()` ends the pool. An idle
 * connection that breaks (the database restarted, an operator ended it) is dropped from
 * the pool by node-postgres; the error it reports is not the process's to die of, the next
 * query opens a fresh connection.
 */
export function openPostgres(url: string): Kysely<Database> {
  const pool = new pg.Pool({ connectionString: url, types: types as pg.CustomTypesConfig, max: 10 });
  pool.on('error', () => {});
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** Serialization failures and deadlocks: the transaction did nothing and may simply run again. */
export function isRetryableConflict(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === '40001' || code === '40P01';
}
