import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { createTestDatabase } from '../testing/test-database.ts';
import { migrateToLatest, openDatabase } from './database.ts';
import { exactNumber } from './postgres.ts';

test('integers come back as exact numbers, on either database: counts, sums and bigint columns alike', async () => {
  const database = await createTestDatabase('sqlite::memory:');
  const db = openDatabase(database.url);
  try {
    await migrateToLatest(db);
    const top = Number.MAX_SAFE_INTEGER;
    await db.insertInto('users').values({ id: 'u1', email: 'a@example.org', password_hash: 'x', is_admin: 0, created_at: 'now' }).execute();
    await db
      .insertInto('ledger_accounts')
      .values([
        { id: 'a1', kind: 'renter_balance', user_id: 'u1', rail: null, rental_id: null, key: 'k1', balance: top - 1, created_at: 'now' },
        { id: 'a2', kind: 'renter_balance', user_id: 'u1', rail: null, rental_id: null, key: 'k2', balance: 1, created_at: 'now' },
      ])
      .execute();
    const row = await db
      .selectFrom('ledger_accounts')
      .select((eb) => [eb.fn.countAll().as('n'), eb.fn.sum('balance').as('total'), eb.fn.max('balance').as('most')])
      .executeTakeFirstOrThrow();
    assert.deepEqual(row, { n: 2, total: top, most: top - 1 });
    const { rows } = await sql<{ big: unknown }>`select cast(${String(top)} as bigint) as big`.execute(db);
    assert.deepEqual(rows, [{ big: top }]);
  } finally {
    await db.destroy();
    await database.drop();
  }
});

test('an integer beyond what a number holds exactly is refused, not rounded', () => {
  assert.equal(exactNumber('9007199254740991'), Number.MAX_SAFE_INTEGER);
  assert.equal(exactNumber('-42'), -42);
  assert.equal(exactNumber('12.5'), 12.5);
  assert.throws(() => exactNumber('9007199254740993'), RangeError);
  assert.throws(() => exactNumber('-9007199254740993'), RangeError);
});
