import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wellKnownServerPath } from '@p2pvps/protocol/federation-schemas';
import { migrateToLatest, openDatabase, type Db } from '../db/database.ts';
import { findPeer, insertPeer, updatePeer, type PeerRow } from '../db/federation-repo.ts';
import { ManualClock } from '../domain/clock.ts';
import { createTestDatabase, type TestDatabase } from '../testing/test-database.ts';
import { FederationClient } from './federation-client.ts';
import { signRequest } from './http-signatures.ts';
import { Peers } from './peers.ts';
import { verifyPeerRequest, type InboundRequest, type RequestVerifierOptions } from './request-verifier.ts';
import { ServerIdentity } from './server-key.ts';

/**
 * Server A verifies requests from its peers B and C, with real Ed25519 keys and a real
 * database (the nonces live there). Each refusal has its own code.
 */
const ownUrl = 'http://a.test';
const bUrl = 'http://b.test';
const cUrl = 'http://c.test';
const clock = new ManualClock(new Date('2026-12-07T02:00:00Z'));
const dirs: string[] = [];
let database: TestDatabase;
let db: Db;
let b: ServerIdentity;
let c: ServerIdentity;
let bPeer: PeerRow;
let options: RequestVerifierOptions;

function identity(): ServerIdentity {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-fedkey-'));
  dirs.push(dir);
  return new ServerIdentity(dir, clock);
}

function peerRow(id: string, url: string, key: ServerIdentity): PeerRow {
  const now = clock.now().toISOString();
  return {
    id,
    url,
    name: id,
    fingerprint: key.key.id,
    public_key: key.key.publicKey,
    state: 'active',
    fee_bps: 1000,
    linked_at: now,
    updated_at: now,
    last_sync_at: null,
    last_error: null,
  };
}

/** A request as `signer` would send it to A, from `origin`. */
function signed(
  signer: ServerIdentity,
  origin: string,
  body = '{"listings":[]}',
  method = 'POST',
  path = '/federation/v1/listings',
): InboundRequest {
  const headers = signRequest(
    { method, targetUri: `${ownUrl}${path}`, body, origin },
    { keyid: signer.key.id, sign: (d) => signer.sign(d) },
    clock.now().getTime(),
  );
  return { method, url: path, headers, rawBody: body };
}

async function refusal(req: InboundRequest, opts = options): Promise<string> {
  try {
    await verifyPeerRequest(opts, req);
  } catch (err) {
    return (err as { code: string }).code;
  }
  return 'accepted';
}

before(async () => {
  database = await createTestDatabase('sqlite::memory:');
  db = openDatabase(database.url);
  await migrateToLatest(db);
  b = identity();
  c = identity();
  bPeer = peerRow('peerbbbb', bUrl, b);
  await insertPeer(db, bPeer);
  await insertPeer(db, peerRow('peercccc', cUrl, c));
  options = { db, clock, ownUrl, followRotation: async () => null };
});

after(async () => {
  await db.destroy();
  await database.drop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('a request signed by a linked peer with its pinned key is accepted, and names that peer', async () => {
  const peer = await verifyPeerRequest(options, signed(b, bUrl));
  assert.equal(peer.url, bUrl);
});

test('a request without a signature, or with a malformed one, is refused', async () => {
  const req = signed(b, bUrl);
  assert.equal(await refusal({ ...req, headers: { ...req.headers, signature: undefined } }), 'federation_bad_signature');
  assert.equal(
    await refusal({ ...req, headers: { ...req.headers, 'signature-input': 'sig1=("@method");created=1' } }),
    'federation_bad_signature',
  );
});

test('a server nobody linked is refused as an unknown peer', async () => {
  assert.equal(await refusal(signed(identity(), 'http://stranger.test')), 'federation_unknown_peer');
});

test('a suspended peer is refused until it is resumed', async () => {
  await updatePeer(db, bPeer.id, { state: 'suspended' });
  assert.equal(await refusal(signed(b, bUrl)), 'federation_peer_suspended');
  await updatePeer(db, bPeer.id, { state: 'active' });
  assert.equal(await refusal(signed(b, bUrl)), 'accepted');
});

test('a request in a peer’s name signed with a key it never published is refused as the wrong key', async () => {
  assert.equal(await refusal(signed(identity(), bUrl)), 'federation_wrong_key');
});

test('a signature that does not match what was sent is refused: other bytes, another method, another target server', async () => {
  const req = signed(b, bUrl);
  const sig = req.headers.signature as string;
  const flipped = sig.replace(/^sig1=:(.)/, (_, ch: string) => `sig1=:${ch === 'A' ? 'B' : 'A'}`);
  assert.equal(await refusal({ ...req, headers: { ...req.headers, signature: flipped } }), 'federation_bad_signature');
  assert.equal(await refusal({ ...signed(b, bUrl), method: 'PUT' }), 'federation_bad_signature');
  // Signed for C's server, presented to A: the target URI differs.
  const forC = signed(b, bUrl);
  assert.equal(await refusal(forC, { ...options, ownUrl: cUrl }), 'federation_bad_signature');
});

test('a body that does not match its Content-Digest is refused', async () => {
  const req = signed(b, bUrl, '{"listings":[]}');
  assert.equal(await refusal({ ...req, rawBody: '{"listings":[1]}' }), 'federation_digest_mismatch');
});

test('a signature created more than 60 s from our clock is refused, either way', async () => {
  const req = signed(b, bUrl);
  clock.advance(61_000);
  assert.equal(await refusal(req), 'federation_clock_skew');
  const ahead = signed(b, bUrl);
  clock.advance(-122_000);
  assert.equal(await refusal(ahead), 'federation_clock_skew');
  clock.advance(61_000);
});

test('the same signed request twice is refused the second time (its nonce is remembered in the database)', async () => {
  const req = signed(b, bUrl);
  assert.equal(await refusal(req), 'accepted');
  assert.equal(await refusal(req), 'federation_replay');
  // Another node of a cluster on the same (PostgreSQL) database refuses it too.
  if (database.url !== 'sqlite::memory:') {
    const otherNode = openDatabase(database.url);
    try {
      assert.equal(await refusal(req, { ...options, db: otherNode }), 'federation_replay');
    } finally {
      await otherNode.destroy();
    }
  }
});

test('a request naming one peer as its origin but signed with another peer’s key is refused as the wrong origin', async () => {
  assert.equal(await refusal(signed(c, bUrl)), 'federation_wrong_origin');
});

test('after B rotates its key, A follows the rotation B’s old key signed, and accepts the new key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-fedkey-'));
  dirs.push(dir);
  const rotating = new ServerIdentity(dir, clock);
  const url = 'http://rotating.test';
  const row = peerRow('peerrrrr', url, rotating);
  await insertPeer(db, row);
  rotating.rotate();
  rotating.rotate();
  // A's client fetches the rotating server's document; here from the identity itself.
  const fetchDoc = (async (u: string) => {
    assert.equal(u, `${url}${wellKnownServerPath}`);
    return new Response(JSON.stringify(rotating.document('rotating', url, 10, 'USD', 5)));
  }) as typeof fetch;
  const peers = new Peers({ db, clock, client: new FederationClient({ identity: b, ownUrl, clock, fetch: fetchDoc }) });
  const opts = { ...options, followRotation: peers.followRotation.bind(peers) };
  const sender = await verifyPeerRequest(opts, signed(rotating, url));
  assert.equal(sender.fingerprint, rotating.key.id, 'what the request carries is checked against the new key');
  assert.equal((await findPeer(db, row.id))?.fingerprint, rotating.key.id);
});

test('a rotation whose chain was not signed by the pinned key is not followed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-fedkey-'));
  dirs.push(dir);
  const impostor = new ServerIdentity(dir, clock);
  const url = 'http://hijacked.test';
  const genuine = identity();
  await insertPeer(db, peerRow('peerhhhh', url, genuine));
  // The impostor controls the URL now and publishes its own key with a rotation of its own.
  impostor.rotate();
  const fetchDoc = (async () => new Response(JSON.stringify(impostor.document('hijacked', url, 10, 'USD', 5)))) as unknown as typeof fetch;
  const peers = new Peers({ db, clock, client: new FederationClient({ identity: b, ownUrl, clock, fetch: fetchDoc }) });
  assert.equal(
    await refusal(signed(impostor, url), { ...options, followRotation: peers.followRotation.bind(peers) }),
    'federation_wrong_key',
  );
});
