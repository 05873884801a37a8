import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, Kysely, Migrator, SqliteDialect, sql, type Migration, type MigrationProvider, type RawBuilder } from 'kysely';
import type { Database } from './schema.ts';
import { migrationState } from './newer-release.ts';
import { isPostgresUrl, openPostgres } from './postgres.ts';
import * as initial from './migrations/2026-11-22T0800-initial.ts';
import * as web from './migrations/2026-11-23T0800-web.ts';
import * as ledger from './migrations/2026-11-23T1000-ledger.ts';
import * as ledgerBalances from './migrations/2026-11-23T1100-ledger-balances.ts';
import * as holdsPayouts from './migrations/2026-11-23T1200-holds-payouts.ts';
import * as rails from './migrations/2026-11-23T1300-rails.ts';
import * as deviceStorageFault from './migrations/2026-11-24T0800-device-storage-fault.ts';
import * as dashboard from './migrations/2026-11-24T0900-dashboard.ts';
import * as mail from './migrations/2026-11-24T1000-mail.ts';
import * as uptime from './migrations/2026-11-24T1100-uptime.ts';
import * as ledgerEntryIndex from './migrations/2026-11-24T1200-ledger-entry-index.ts';
import * as payoutProcessing from './migrations/2026-12-06T1001-payout-processing.ts';
import * as railRequestsRates from './migrations/2026-12-06T1002-rail-requests-rates.ts';
import * as deviceSignedTs from './migrations/2026-12-06T1004-device-signed-ts.ts';
import * as emailVerification from './migrations/2026-12-06T1008-email-verification.ts';
import * as sealedRentalPasswords from './migrations/2026-12-06T2103-1-sealed-rental-passwords.ts';
import * as autoRenew from './migrations/2026-12-06T2103-2-auto-renew.ts';
import * as reliability from './migrations/2026-12-06T2105-reliability.ts';
import * as reviewsDisputes from './migrations/2026-12-06T2106-reviews-disputes.ts';
import * as hardwareBenchmarks from './migrations/2026-12-06T2104-hardware-benchmarks.ts';
import * as offers from './migrations/2026-12-06T2102-offers.ts';
import * as clusterLeases from './migrations/2026-12-07T0101-cluster-leases.ts';
import * as clusterNodes from './migrations/2026-12-07T0102-cluster-nodes.ts';
import * as federation from './migrations/2026-12-07T0201-federation.ts';
import * as encryptedStorage from './migrations/2026-12-07T0221-encrypted-storage.ts';
import * as appPackages from './migrations/2026-12-07T0211-app-packages.ts';
import * as federationKey from './migrations/2026-12-07T0231-federation-key.ts';
import * as federationRentals from './migrations/2026-12-07T0501-federation-rentals.ts';
import * as federationBackups from './migrations/2026-12-07T0512-federation-backups.ts';
import * as federationMoved from './migrations/2026-12-07T0601-federation-moved.ts';
import * as federationCarriedHandbacks from './migrations/2026-12-07T0701-federation-carried-handbacks.ts';

export type Db = Kysely<Database>;

/** Migrations in order; each file is timestamped and has up and down. */
const migrations: Record<string, Migration> = {
  '2026-11-22T0800-initial': initial,
  '2026-11-23T0800-web': web,
  '2026-11-23T1000-ledger': ledger,
  '2026-11-23T1100-ledger-balances': ledgerBalances,
  '2026-11-23T1200-holds-payouts': holdsPayouts,
  '2026-11-23T1300-rails': rails,
  '2026-11-24T0800-device-storage-fault': deviceStorageFault,
  '2026-11-24T0900-dashboard': dashboard,
  '2026-11-24T1000-mail': mail,
  '2026-11-24T1100-uptime': uptime,
  '2026-11-24T1200-ledger-entry-index': ledgerEntryIndex,
  '2026-12-06T1001-payout-processing': payoutProcessing,
  '2026-12-06T1002-rail-requests-rates': railRequestsRates,
  '2026-12-06T1004-device-signed-ts': deviceSignedTs,
  '2026-12-06T1008-email-verification': emailVerification,
  '2026-12-06T2103-1-sealed-rental-passwords': sealedRentalPasswords,
  '2026-12-06T2103-2-auto-renew': autoRenew,
  '2026-12-06T2105-reliability': reliability,
  '2026-12-06T2106-reviews-disputes': reviewsDisputes,
  '2026-12-06T2104-hardware-benchmarks': hardwareBenchmarks,
  '2026-12-06T2102-offers': offers,
  '2026-12-07T0101-cluster-leases': clusterLeases,
  '2026-12-07T0102-cluster-nodes': clusterNodes,
  '2026-12-07T0201-federation': federation,
  '2026-12-07T0221-encrypted-storage': encryptedStorage,
  '2026-12-07T0211-app-packages': appPackages,
  '2026-12-07T0231-federation-key': federationKey,
  '2026-12-07T0501-federation-rentals': federationRentals,
  '2026-12-07T0512-federation-backups': federationBackups,
  '2026-12-07T0601-federation-moved': federationMoved,
  '2026-12-07T0701-federation-carried-handbacks': federationCarriedHandbacks,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/**
 * The database holds mail bodies in clear until SMTP takes them (and rental passwords,
 * sealed under a key kept beside it in the data dir: secret-box.ts), so only the server's own user may read it, whatever the umask: a directory made for it
 * is 0700, and the file is 0600 (SQLite gives its -wal and -shm files the file's mode; an
 * older database's are tightened too). An existing directory keeps its mode: it may be
 * shared, and the file's mode is what guards the data.
 */
export function openDatabase(url: string): Db {
  if (isPostgresUrl(url)) return openPostgres(url);
  const path = url.replace(/^sqlite:/, '');
  if (path !== ':memory:') {
    const dir = dirname(path);
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    closeSync(openSync(path, 'a', 0o600));
    for (const file of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
  }
  const sqlite = new SqliteDatabase(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
}

/** Prepared statements kept, by SQL text: the app's queries are a few hundred shapes. */
const statementCacheSize = 500;

/**
 * Kysely prepares every query it runs. Preparing is a large part of a big statement's cost
 * (the meter's bulk inserts and updates have thousands of parameters and the same text every
 * tick), so statements are kept by their SQL text and reused. One connection runs one query
 * at a time (Kysely's mutex), so a kept statement is never in use twice at once.
 */
function withStatementCache(sqlite: SqliteDatabase.Database) {
  const kept = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(text: string) {
      let statement = kept.get(text);
      if (statement) {
        // Most recently used last, so the oldest goes first when the cache is full.
        kept.delete(text);
      } else {
        statement = sqlite.prepare(text);
        if (kept.size >= statementCacheSize) kept.delete(kept.keys().next().value!);
      }
      kept.set(text, statement);
      return statement;
    },
  };
}

/**
 * Runs pending migrations under Kysely's migrator lock; throws with the failing migration's
 * name. With none pending it leaves the database alone and returns the migrations a newer
 * release has applied, if any (a rolling upgrade under way: newer-release.ts).
 */
export async function migrateToLatest(db: Db): Promise<string[]> {
  const { pending, newer } = await migrationState(db, Object.keys(migrations));
  if (pending.length === 0) return newer;
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error)
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`);
  return [];
}

/** True when a write failed on a unique constraint, on either database. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e?.code === '23505';
}

/** Bound parameters per statement, well under SQLite's 32,766 and PostgreSQL's 65,535. */
const maxParams = 30_000;

/** Splits rows so that no statement binds more than `maxParams` parameters. */
export function chunksFor<T>(rows: readonly T[], paramsPerRow: number): T[][] {
  const size = Math.max(1, Math.floor(maxParams / paramsPerRow));
  const chunks: T[][] = [];
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size));
  return chunks;
}

/**
 * SQL text of bulk statements by shape (statement, table, columns, row count). Building a
 * statement of thousands of values is most of the work of running it through Kysely, and
 * the meter runs the same shapes every minute: the text is built once by Kysely (so it is
 * right for the dialect) and then only the values change.
 */
const shapes = new Map<string, string>();

/** Runs a bulk statement by its shape; returns the rows it changed. */
async function runShaped(db: Db, shape: string, build: () => CompiledQuery, params: readonly unknown[]): Promise<number> {
  const known = shapes.get(shape);
  if (known !== undefined) {
    return Number((await db.executeQuery(CompiledQuery.raw(known, [...params]))).numAffectedRows ?? 0n);
  }
  const compiled = build();
  // Only a statement whose parameters are exactly the values, in order, can be reused.
  if (compiled.parameters.length === params.length && compiled.parameters.every((p, i) => p === params[i])) {
    if (shapes.size > 500) shapes.clear();
    shapes.set(shape, compiled.sql);
  }
  return Number((await db.executeQuery(compiled)).numAffectedRows ?? 0n);
}

/** Inserts rows (all with the same columns, in the same order) with one statement per chunk. */
export async function insertMany<T extends keyof Database & string>(
  db: Db,
  table: T,
  rows: readonly Record<string, unknown>[],
): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]!);
  for (const chunk of chunksFor(rows, columns.length)) {
    const params = chunk.flatMap((row) => columns.map((c) => row[c]));
    await runShaped(
      db,
      `insert|${table}|${columns.join(',')}|${chunk.length}`,
      () =>
        db
          .insertInto(table)
          .values(chunk as never)
          .compile(),
      params,
    );
  }
}

/**
 * Updates many rows, each with its own values, in one statement per chunk:
 * `UPDATE table SET … FROM (VALUES (key, v2, v3…), …) AS v WHERE table.key = v.column1`.
 * `types` are the SQL types of the columns (the first row casts them, so PostgreSQL knows
 * them too); `set` refers to them as v.column2, v.column3… Works on SQLite ≥ 3.33 and
 * PostgreSQL alike.
 */
export async function updateFromValues(
  db: Db,
  o: {
    table: keyof Database & string;
    key: string;
    types: readonly string[];
    set: RawBuilder<unknown>;
    rows: readonly (readonly unknown[])[];
    /** A further condition on each row (a compare-and-set: `rentals.billed_until = v.column7`). */
    where?: RawBuilder<unknown>;
  },
): Promise<number> {
  const set = o.set.compile(db);
  const where = o.where?.compile(db);
  let changed = 0;
  for (const chunk of chunksFor(o.rows, o.types.length)) {
    const build = () => {
      const values = chunk.map(
        (row, r) => sql`(${sql.join(row.map((value, c) => (r === 0 ? sql`cast(${value} as ${sql.raw(o.types[c]!)})` : sql`${value}`)))})`,
      );
      const also = o.where ? sql` and ${o.where}` : sql``;
      return sql`update ${sql.table(o.table)} set ${o.set} from (values ${sql.join(values)}) as v where ${sql.ref(`${o.table}.${o.key}`)} = v.column1${also}`.compile(
        db,
      );
    };
    const params = [...set.parameters, ...chunk.flat(), ...(where?.parameters ?? [])];
    const shape = `update|${o.table}|${o.key}|${o.types.join(',')}|${set.sql}|${where?.sql ?? ''}|${chunk.length}`;
    changed += await runShaped(db, shape, build, params);
  }
  return changed;
}
