import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { migrateToLatest, openDatabase } from './database.ts';

/** A database a rolling upgrade is under way on: migrated by this release, then by a newer one. */
async function withDatabase(run: (db: ReturnType<typeof openDatabase>) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-newer-'));
  const db = openDatabase(`sqlite:${join(dir, 'p2pvps.sqlite')}`);
  try {
    await run(db);
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

const newer = '2999-01-01T0000-from-a-newer-release';

test('a node of the previous release starts on a database a newer release has migrated, and leaves it as it is', async () => {
  await withDatabase(async (db) => {
    assert.deepEqual(await migrateToLatest(db), [], 'a fresh database is migrated');
    // What the newer release did: a migration of its own, additive as the rule asks.
    await sql`alter table users add column from_newer_release text`.execute(db);
    await sql`insert into kysely_migration (name, timestamp) values (${newer}, ${new Date().toISOString()})`.execute(db);

    assert.deepEqual(await migrateToLatest(db), [newer], 'the old node starts and names what it does not know');
    const names = await sql<{ name: string }>`select name from kysely_migration order by name desc limit 1`.execute(db);
    assert.equal(names.rows[0]?.name, newer, 'nothing was undone');
    await db.insertInto('users').values({ id: 'u1', email: 'a@b.c', password_hash: 'x', is_admin: 0, created_at: 'now' }).execute();
  });
});

test('a release with migrations of its own still pending refuses a database a newer release migrated', async () => {
  await withDatabase(async (db) => {
    await migrateToLatest(db);
    await sql`insert into kysely_migration (name, timestamp) values (${newer}, ${new Date().toISOString()})`.execute(db);
    // One of this release's migrations not applied, while a newer one is: not a state any release order makes.
    await sql`delete from kysely_migration where name = ${'2026-11-24T1200-ledger-entry-index'}`.execute(db);
    await assert.rejects(
      migrateToLatest(db),
      /corrupted migrations: previously executed migration 2999-01-01T0000-from-a-newer-release is missing/,
    );
  });
});
