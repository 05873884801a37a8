import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../testing/test-database.ts';
import { migrateToLatest, openDatabase, type Db } from './database.ts';
import {
  findTunnelHolder,
  heartbeatNode,
  holdTunnel,
  reapTunnelHolders,
  registerNode,
  releaseTunnel,
  remotelyHeldDevices,
  stopNode,
} from './cluster-repo.ts';

/**
 * Which node holds which device's tunnel, on a real database: a holder counts only while
 * its node's heartbeat is fresh and it has not stopped; a node that reconnected a device
 * keeps it when the old node lets go late; a dead node's devices are reaped once.
 */
const dir = mkdtempSync(join(tmpdir(), 'p2pvps-cluster-repo-'));
let db: Db;
let database: TestDatabase;
const t0 = Date.parse('2026-12-07T00:00:00Z');
const at = (s: number) => new Date(t0 + s * 1000).toISOString();

before(async () => {
  database = await createTestDatabase(`sqlite:${join(dir, 'db.sqlite')}`);
  db = openDatabase(database.url);
  await migrateToLatest(db);
  await registerNode(db, { id: 'a', linkHost: '127.0.0.1', linkPort: 7401, now: at(0) });
  await registerNode(db, { id: 'b', linkHost: '127.0.0.1', linkPort: 7402, now: at(0) });
});

after(async () => {
  await db.destroy();
  await database.drop();
  rmSync(dir, { recursive: true, force: true });
});

test('a device held by a live node is found with its link address, and not by the node itself as remote', async () => {
  await holdTunnel(db, 'dev1', 'a', at(1));
  assert.deepEqual(await findTunnelHolder(db, 'dev1', at(-10)), { nodeId: 'a', host: '127.0.0.1', port: 7401 });
  assert.deepEqual(await remotelyHeldDevices(db, 'b', at(-10)), ['dev1']);
  assert.deepEqual(await remotelyHeldDevices(db, 'a', at(-10)), []);
});

test('a device that moved to another node stays with it when the old node lets go late', async () => {
  await holdTunnel(db, 'dev2', 'a', at(2));
  await holdTunnel(db, 'dev2', 'b', at(3));
  await releaseTunnel(db, 'dev2', 'a');
  assert.equal((await findTunnelHolder(db, 'dev2', at(-10)))?.nodeId, 'b');
});

test("a stale node's devices count as offline, and are reaped exactly once", async () => {
  // b keeps beating; a falls silent at 0 s and is stale once 10 s have passed.
  await heartbeatNode(db, 'b', at(20));
  assert.equal(await findTunnelHolder(db, 'dev1', at(10)), null);
  assert.deepEqual(await remotelyHeldDevices(db, 'b', at(10)), []);
  assert.deepEqual(await reapTunnelHolders(db, at(10)), ['dev1']);
  assert.deepEqual(await reapTunnelHolders(db, at(10)), []);
  assert.equal((await findTunnelHolder(db, 'dev2', at(10)))?.nodeId, 'b');
});

test('a node that stops cleanly is gone at once, and a restarted node reaps what it held before', async () => {
  await stopNode(db, 'b', at(21));
  assert.equal(await findTunnelHolder(db, 'dev2', at(10)), null);
  await registerNode(db, { id: 'b', linkHost: '127.0.0.1', linkPort: 7402, now: at(30) });
  assert.deepEqual(await reapTunnelHolders(db, at(25), 'b'), ['dev2']);
});
