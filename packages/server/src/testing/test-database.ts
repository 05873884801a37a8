import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { migrateToLatest, openDatabase } from '../db/database.ts';

/**
 * The database a test runs on. With P2PVPS_TEST_DATABASE set to a PostgreSQL admin URL
 * (scripts/postgres.sh prints one; scripts/test sets it for its PostgreSQL pass), each call
 * creates a database of its own, named at random, so tests never see each other's rows,
 * and `drop()` removes it; otherwise it is `fallback`, a SQLite URL, as before.
 */
export interface TestDatabase {
  url: string;
  /** Drops the database (PostgreSQL); call after every connection to it is closed. Idempotent. */
  drop(): Promise<void>;
}

export function testDatabaseAdminUrl(): string | undefined {
  return process.env.P2PVPS_TEST_DATABASE || undefined;
}

/** Which database the tests run on, for messages and for the few tests that differ by dialect. */
export function testDialect(): 'postgres' | 'sqlite' {
  return testDatabaseAdminUrl() ? 'postgres' : 'sqlite';
}

export async function createTestDatabase(fallback: string): Promise<TestDatabase> {
  const admin = testDatabaseAdminUrl();
  if (!admin) return { url: fallback, drop: async () => {} };
  const name = `p2pvps_test_${randomBytes(8).toString('hex')}`;
  const template = await migratedTemplate(admin);
  await adminQuery(admin, `create database ${name} template ${template} strategy file_copy`);
  let dropped = false;
  return {
    url: databaseUrl(admin, name),
    async drop() {
      if (dropped) return;
      dropped = true;
      // FORCE ends connections a failed test left open.
      await adminQuery(admin, `drop database if exists ${name} with (force)`);
    },
  };
}

function databaseUrl(admin: string, name: string): string {
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Migrating a fresh PostgreSQL database takes about a second, and the suite makes hundreds:
 * each is copied instead (file by file: faster than through the WAL for a small one)
 * from a template migrated once, named after the migrations' text so
 * that a changed migration gets a template of its own. Test processes run side by side: an
 * advisory lock lets one of them make it.
 */
async function migratedTemplate(admin: string): Promise<string> {
  const dir = join(import.meta.dirname, '../db/migrations');
  const hash = createHash('sha256');
  for (const file of readdirSync(dir).sort()) hash.update(file).update(readFileSync(join(dir, file)));
  const name = `p2pvps_template_${hash.digest('hex').slice(0, 16)}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock(2026120701)');
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount === 0) {
      const building = `${name}_building`;
      await client.query(`drop database if exists ${building} with (force)`);
      await client.query(`create database ${building}`);
      const db = openDatabase(databaseUrl(admin, building));
      try {
        await migrateToLatest(db);
      } finally {
        await db.destroy();
      }
      await client.query(`alter database ${building} rename to ${name}`);
    }
  } finally {
    await client.end();
  }
  return name;
}

async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}
