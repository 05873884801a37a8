import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrateToLatest, openDatabase } from './database.ts';

/** Rental passwords are in the database in clear: nobody but the server's user may read it. */
test('the database file, its WAL files and a directory made for it are private to the server, whatever the umask', async () => {
  const root = mkdtempSync(join(tmpdir(), 'p2pvps-dbmode-'));
  const old = process.umask(0o022);
  try {
    const path = join(root, 'fresh', 'p2pvps.sqlite');
    const db = openDatabase(`sqlite:${path}`);
    await migrateToLatest(db);
    await db.insertInto('users').values({ id: 'u1', email: 'a@b.c', password_hash: 'x', is_admin: 0, created_at: 'now' }).execute();
    const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
    assert.equal(mode(join(root, 'fresh')), '700');
    assert.equal(mode(path), '600');
    assert.equal(mode(`${path}-wal`), '600');
    assert.equal(mode(`${path}-shm`), '600');
    await db.destroy();
  } finally {
    process.umask(old);
    rmSync(root, { recursive: true, force: true });
  }
});
