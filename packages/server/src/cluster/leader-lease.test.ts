import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrateToLatest, openDatabase, type Db } from '../db/database.ts';
import { findLease } from '../db/leases-repo.ts';
import { ManualClock } from '../domain/clock.ts';
import { LeaderLease, LeaseLost } from './leader-lease.ts';

const ttlMs = 6_000;
const quiet = { info: () => {}, warn: () => {} };

/**
 * Two connections to one database stand for two server nodes (P2PVPS_TEST_DATABASE, else
 * a SQLite file in WAL mode); each test uses a lease name of its own, so a shared
 * PostgreSQL needs no cleaning.
 */
async function twoNodes(t: { after(fn: () => Promise<void>): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-lease-'));
  const url = process.env.P2PVPS_TEST_DATABASE ?? `sqlite:${join(dir, 'cluster.sqlite')}`;
  const first = openDatabase(url);
  await migrateToLatest(first);
  const second = openDatabase(url);
  t.after(async () => {
    await first.destroy();
    await second.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  const name = `test-${Math.random().toString(36).slice(2)}`;
  const node = (db: Db, nodeId: string, clock: ManualClock) => new LeaderLease({ db, name, nodeId, ttlMs, clock, log: quiet });
  return { first, second, name, node };
}

test('the first node takes the lease at once and keeps it by renewing; the other takes over only once it expired, under a higher token', async (t) => {
  const { first, second, name, node } = await twoNodes(t);
  const clock = new ManualClock();
  const a = node(first, 'node-a', clock);
  const b = node(second, 'node-b', clock);
  await a.tick();
  await b.tick();
  assert.equal(a.isLeader(), true);
  assert.equal(b.isLeader(), false);
  assert.equal(a.token(), 1);
  assert.equal((await findLease(first, name))?.holderNode, 'node-a');

  // Renewed every third of the TTL, it is held however long it runs.
  for (let i = 0; i < 10; i++) {
    clock.advance(ttlMs / 3);
    await a.tick();
    await b.tick();
    assert.equal(a.isLeader(), true, `renewal ${i}`);
    assert.equal(b.isLeader(), false, `renewal ${i}`);
  }

  // node-a dies (no more renewals): node-b cannot take it before it expires, and does right after.
  clock.advance(ttlMs - 1);
  await b.tick();
  assert.equal(b.isLeader(), false, 'not before the expiry');
  clock.advance(1);
  await b.tick();
  assert.equal(b.isLeader(), true);
  assert.equal(b.token(), 2, 'the fencing token goes up with the holder');
  assert.equal(a.isLeader(), false, 'its own clock tells node-a its lease ran out');
  const row = await findLease(second, name);
  assert.deepEqual([row?.holderNode, row?.token], ['node-b', 2]);
});

test('a node whose renewal comes late stops leading at once, and takes the lease back only under a new token', async (t) => {
  const { first, second, name, node } = await twoNodes(t);
  const clock = new ManualClock();
  const a = node(first, 'node-a', clock);
  const b = node(second, 'node-b', clock);
  await a.tick();
  let ran = 0;
  const job = a.whileLeading(async () => ++ran);
  await job();
  assert.equal(ran, 1);

  // Stalled past its validity (which ends a sixth of the TTL before the row's expiry, for clock skew).
  clock.advance(ttlMs - ttlMs / 6);
  assert.equal(a.isLeader(), false);
  await job();
  assert.equal(ran, 1, 'the periodic work stops the moment the renewal is late');

  // Nobody took it meanwhile: node-a takes it back, but as a new tenure.
  await a.tick();
  assert.equal(a.isLeader(), true);
  assert.equal(a.token(), 2);
  await b.tick();
  assert.equal(b.isLeader(), false);
  assert.equal((await findLease(second, name))?.token, 2);
});

test('work of an old leader that missed the takeover cannot commit: the fence refuses it and its writes roll back', async (t) => {
  const { first, second, node } = await twoNodes(t);
  // node-a is paused (a GC pause, SIGSTOP): its clock, as it sees it, stands still.
  const pausedClock = new ManualClock();
  const clock = new ManualClock();
  const a = node(first, 'node-a', pausedClock);
  const b = node(second, 'node-b', clock);
  await a.tick();
  clock.advance(ttlMs);
  await b.tick();
  assert.equal(b.token(), 2);
  assert.equal(a.isLeader(), true, 'node-a believes it still leads');

  const write = (db: Db, lease: LeaderLease, coin: string) =>
    db.transaction().execute(async (trx) => {
      await trx.insertInto('exchange_rates').values({ coin, rate: '1', set_at: clock.now().toISOString(), previous_rate: null }).execute();
      await lease.fence(trx);
    });
  await assert.rejects(write(first, a, 'OLD'), LeaseLost);
  await write(second, b, 'NEW');
  const coins = (await second.selectFrom('exchange_rates').select('coin').where('coin', 'in', ['OLD', 'NEW']).execute()).map((r) => r.coin);
  assert.deepEqual(coins, ['NEW'], "the old leader's write is not in the database");

  // Its next renewal finds the row taken and it stops for good.
  await a.tick();
  assert.equal(a.isLeader(), false);
});

test('closing lets go of the lease: another node takes over at once instead of after the TTL', async (t) => {
  const { first, second, node } = await twoNodes(t);
  const clock = new ManualClock();
  const a = node(first, 'node-a', clock);
  const b = node(second, 'node-b', clock);
  await a.tick();
  await a.close();
  await a.close();
  assert.equal(a.isLeader(), false);
  await b.tick();
  assert.equal(b.isLeader(), true);
  assert.equal(b.token(), 2);
});
