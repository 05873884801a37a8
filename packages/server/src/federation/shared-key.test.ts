import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerDocument, type ServerKey } from '@p2pvps/protocol/federation-schemas';
import { nodeEvents, type NodeEvents } from '../cluster/node-events.ts';
import { migrateToLatest, openDatabase, type Db } from '../db/database.ts';
import { ManualClock } from '../domain/clock.ts';
import { secretBox } from '../secret-box.ts';
import { createTestDatabase, testDialect, type TestDatabase } from '../testing/test-database.ts';
import { parseSignature, signatureBase, signRequest } from './http-signatures.ts';
import { followRotations, ServerIdentity, verifyEd25519 } from './server-key.ts';
import { SharedServerKey } from './shared-key.ts';

/**
 * Two nodes of one server, each with a data dir of its own (as in production, where the
 * files are copied, not shared) and its own connection and event buses, on one database.
 * On PostgreSQL a rotation on one node reaches the other through the node events bus (the
 * recheck is set far away, so only the announcement can carry it); on SQLite, whose buses
 * are each process's own, through the periodic recheck.
 */
const clock = new ManualClock(new Date('2026-12-07T02:30:00Z'));
const box = secretBox(randomBytes(32));
const dirs: string[] = [];
const closers: (() => Promise<void> | void)[] = [];
let database: TestDatabase;

interface Node {
  dir: string;
  identity: ServerIdentity;
  key: SharedServerKey;
}

async function startNode(): Promise<Node> {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-fednode-'));
  dirs.push(dir);
  const db: Db = openDatabase(database.url);
  const buses: NodeEvents = await nodeEvents(database.url, () => {});
  const identity = new ServerIdentity(dir, clock);
  const key = new SharedServerKey({
    db,
    clock,
    secretBox: box,
    identity,
    bus: buses.changes,
    log: { warn: () => {} },
    recheckEveryMs: testDialect() === 'postgres' ? 3_600_000 : 100,
  });
  await key.start();
  closers.push(
    () => key.close(),
    () => buses.close(),
    () => db.destroy(),
  );
  return { dir, identity, key };
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !ok(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(ok(), what);
}

/** What a peer checks: a request `node` signs verifies under `key`, and names it. */
function signsWith(node: Node, key: ServerKey): boolean {
  const message = { method: 'POST', targetUri: 'http://peer.test/federation/v1/listings', body: '{}', origin: 'http://b.test' };
  const headers = signRequest(message, { keyid: node.identity.key.id, sign: (d) => node.identity.sign(d) }, clock.now().getTime());
  const parsed = parseSignature(headers);
  assert.ok(parsed);
  const base = signatureBase({ ...message, contentDigest: headers['content-digest']! }, parsed.components, parsed.paramsText);
  return parsed.params.keyid === key.id && verifyEd25519(key, base, parsed.signature);
}

before(async () => {
  database = await createTestDatabase(`sqlite:${join(mkdtempSync(join(tmpdir(), 'p2pvps-fedkeydb-')), 'key.sqlite')}`);
  const db = openDatabase(database.url);
  await migrateToLatest(db);
  await db.destroy();
});

after(async () => {
  for (const close of closers.reverse()) await close();
  await database.drop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('a second node signs with the key a rotation on the first made, without a restart', async () => {
  const a = await startNode();
  // B made a key of its own in its data dir; the one the first node stored wins.
  const b = await startNode();
  assert.equal(b.identity.key.id, a.identity.key.id, 'both nodes start with the stored key');
  const original = a.identity.key;

  await a.key.rotate();
  const rotated = a.identity.key;
  assert.notEqual(rotated.id, original.id);
  await until('node B adopts the new key', () => b.identity.key.id === rotated.id);

  assert.ok(signsWith(b, rotated), "B's signed request verifies under the new key and names it");
  assert.ok(!signsWith(b, original), 'B no longer signs with the old key');
  // B publishes the same chain, so a peer that pinned the old key follows it to the new one.
  const doc = ServerDocument.parse(b.identity.document('b', 'http://b.test', 10, 'USD', 5));
  assert.deepEqual(followRotations(original, doc), rotated);
  // B's data dir holds the new key too: a restart of B alone keeps it.
  assert.equal(new ServerIdentity(b.dir, clock).key.id, rotated.id);
});

test('two rotations at once on two nodes both take effect, one after the other, and the nodes agree', async () => {
  const a = await startNode();
  const b = await startNode();
  const before = a.identity.key;
  const chainBefore = a.identity.previousKeys.length;
  await Promise.all([a.key.rotate(), b.key.rotate()]);
  await until('both nodes hold the same key', () => a.identity.key.id === b.identity.key.id);
  assert.equal(a.identity.previousKeys.length, chainBefore + 2, 'neither rotation was lost');
  const doc = ServerDocument.parse(a.identity.document('b', 'http://b.test', 10, 'USD', 5));
  assert.deepEqual(followRotations(before, doc), a.identity.key);
});

test("a node whose secret-box.key is not the others' refuses to start, saying which file to copy", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-fednode-'));
  dirs.push(dir);
  const db = openDatabase(database.url);
  closers.push(() => db.destroy());
  const key = new SharedServerKey({
    db,
    clock,
    secretBox: secretBox(randomBytes(32)),
    identity: new ServerIdentity(dir, clock),
    bus: { publish: () => {}, subscribe: () => () => {}, hasListeners: () => false },
    log: { warn: () => {} },
  });
  await assert.rejects(key.start(), /does not open with this node's secret-box\.key/);
  key.close();
});
