import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MovedMessage } from '@p2pvps/protocol/federation-rental-schemas';
import { migrateToLatest, openDatabase, type Db } from '../db/database.ts';
import { closeService, openService } from '../db/federation-backups-repo.ts';
import { ManualClock } from '../domain/clock.ts';
import { createTestDatabase, type TestDatabase } from '../testing/test-database.ts';
import type { FederationClient, PeerReply } from './federation-client.ts';
import { MovedSender } from './moved-sender.ts';

/**
 * C telling A where B's device is served now (`moved`, docs/federation.md "The join"): a
 * move A did not answer is sent again with backoff until A acknowledges it, and never
 * once the stretch is over or A refused it for good. A's side is a scripted client here:
 * what A answers is what is under test, not A (moved.test.ts and the e2e proof cover A).
 */
const clock = new ManualClock(new Date('2026-12-07T07:00:00Z'));
let database: TestDatabase;
let db: Db;
const sent: string[] = [];
let answers: (number | 'down')[] = [];
const client = {
  async request(_url: string, _method: string, path: string): Promise<PeerReply> {
    sent.push(path);
    const a = answers.shift() ?? 200;
    if (a === 'down') throw new Error('connect ECONNREFUSED 127.0.0.1:1');
    return { status: a, body: a === 200 ? { accepted: true } : { code: 'internal', message: 'scripted' } } as PeerReply;
  },
} as unknown as FederationClient;
const sender = () => new MovedSender({ db, clock, client, log: { warn() {} } });
const body = (deviceId: string): MovedMessage => ({
  home: 'https://b.example',
  deviceId,
  ssh: { host: 'c.example', port: 20001 },
  webHost: 'w.c.example',
  httpUrl: 'http://w.c.example/',
  at: clock.now().toISOString(),
});
async function stretch(id: string, deviceId: string) {
  await openService(db, {
    id,
    home_peer_id: 'peerbbbb',
    device_id: deviceId,
    rental_id: `ren-${id}`,
    started_at: clock.now().toISOString(),
    ended_at: null,
    minutes: 0,
    handed_back_at: null,
    amount_micros: null,
    fee_micros: null,
  });
  return { serviceId: id, deviceId, originUrl: 'https://a.example', rentalId: `ren-${id}`, body: body(deviceId) };
}

before(async () => {
  database = await createTestDatabase('sqlite::memory:');
  db = openDatabase(database.url);
  await migrateToLatest(db);
});

after(async () => {
  await db.destroy();
  await database.drop();
});

test('a move A did not answer is sent again, 1 s then 2 s later, until A acknowledges it, then no more', async () => {
  const s = sender();
  sent.length = 0;
  answers = ['down', 503, 200];
  await s.send(await stretch('svc1', 'd1'));
  assert.deepEqual(sent, ['/federation/v1/rentals/ren-svc1/moved']);
  assert.deepEqual(s.waiting(), [{ serviceId: 'svc1', attempts: 1, nextAt: '2026-12-07T07:00:01.000Z' }]);
  await s.retry();
  assert.equal(sent.length, 1, 'not before its time');
  clock.advance(1_000);
  await s.retry();
  assert.equal(sent.length, 2, 'A answered 503: once more, later');
  assert.deepEqual(s.waiting(), [{ serviceId: 'svc1', attempts: 2, nextAt: '2026-12-07T07:00:03.000Z' }]);
  clock.advance(1_000);
  await s.retry();
  assert.equal(sent.length, 2);
  clock.advance(1_000);
  await s.retry();
  assert.equal(sent.length, 3);
  assert.deepEqual(s.waiting(), [], 'A acknowledged it');
  clock.advance(120_000);
  await s.retry();
  assert.equal(sent.length, 3);
});

test('the wait doubles up to a minute', async () => {
  const s = sender();
  sent.length = 0;
  answers = Array(10).fill('down');
  await s.send(await stretch('svc2', 'd2'));
  const waits: number[] = [];
  for (let i = 0; i < 8; i++) {
    const due = Date.parse(s.waiting()[0]!.nextAt);
    waits.push((due - clock.now().getTime()) / 1000);
    clock.advance(due - clock.now().getTime());
    await s.retry();
  }
  assert.deepEqual(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
  assert.equal(sent.length, 9);
  await closeService(db, 'svc2', clock.now().toISOString(), 1);
});

test('a move is dropped once its stretch is over (the device left C), or when A refuses it for good', async () => {
  const s = sender();
  sent.length = 0;
  answers = ['down'];
  await s.send(await stretch('svc3', 'd3'));
  await closeService(db, 'svc3', clock.now().toISOString(), 1);
  clock.advance(5_000);
  await s.retry();
  assert.equal(sent.length, 1, 'a stale move would hide the home’s address again');
  assert.deepEqual(s.waiting(), []);

  answers = [403];
  await s.send(await stretch('svc4', 'd4'));
  assert.deepEqual(s.waiting(), [], 'federation_not_backup does not change on a retry');
});
