import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Migration, type MigrationProvider } from 'kysely';
import type { Database } from './schema.ts';
import * as initial from './migrations/2026-11-22T0800-initial.ts';
import * as web from './migrations/2026-11-23T0800-web.ts';
import * as ledger from './migrations/2026-11-23T1000-ledger.ts';
import * as ledgerBalances from './migrations/2026-11-23T1100-ledger-balances.ts';

export type Db = Kysely<Database>;

/** Migrations in order; each file is timestamped and has up and down. */
const migrations: Record<string, Migration> = {
  '2026-11-22T0800-initial': initial,
  '2026-11-23T0800-web': web,
  '2026-11-23T1000-ledger': ledger,
  '2026-11-23T1100-ledger-balances': ledgerBalances,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export function openDatabase(url: string): Db {
  const path = url.replace(/^sqlite:/, '');
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SqliteDatabase(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
}

/** Runs pending migrations under Kysely's migrator lock; throws with the failing migration's name. */
export async function migrateToLatest(db: Db): Promise<void> {
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error)
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`);
}

/** True when a write failed on a unique constraint, on either database. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e?.code === '23505';
}
