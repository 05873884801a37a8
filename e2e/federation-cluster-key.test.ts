import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiClient } from '@p2pvps/protocol/client';
import { federationListingsPath, wellKnownServerPath, ServerDocument } from '@p2pvps/protocol/federation-schemas';
import { operatorClient } from '@p2pvps/server/services/operator-client';
import { createTestDatabase, testDialect, type TestDatabase } from '@p2pvps/server/testing/test-database';
import { createServer, portBlock, tempDir, waitFor, type TestServer } from './harness.ts';

/**
 * One marketplace, "b", run as two nodes on one database, each with a data dir of its own
 * (as in production, where the first node's files are copied to the others), and an
 * independent peer "p" that linked b by its URL and fingerprint. The operator rotates the
 * key through node 1; node 2 then signs its requests to p with the new key, without a
 * restart, and p accepts them. On PostgreSQL the rotation reaches node 2 through the node
 * events bus (or its 30 s recheck: federation/shared-key.test.ts sets that far away, so it
 * proves the bus alone); on SQLite (each process's buses are its own) through the reload
 * its timer runs, called here at once.
 */
const base = portBlock(300);
const clusterUrl = `http://127.0.0.1:${base}`;
const dirs: string[] = [];
let database: TestDatabase;
let node1: TestServer;
let node2: TestServer;
let peer: TestServer;
let operator: ApiClient;
let peerOperator: ApiClient;

before(async () => {
  const shared = tempDir('fedkey-db');
  dirs.push(shared);
  database = await createTestDatabase(`sqlite:${join(shared, 'b.sqlite')}`);
  const env = {
    P2PVPS_SERVER_NAME: 'b',
    P2PVPS_PUBLIC_URL: clusterUrl,
    P2PVPS_DATABASE_URL: database.url,
    P2PVPS_FEDERATION_PULL_MS: '0',
  };
  node1 = await createServer({ portBase: base, env });
  // Node 2's data dir: the secret box's key copied from node 1 (docs/production.md); its own federation key, made at start, loses to the stored one.
  const dataDir2 = tempDir('fedkey-node2');
  dirs.push(dataDir2);
  copyFileSync(join(node1.dataDir, 'secret-box.key'), join(dataDir2, 'secret-box.key'));
  node2 = await createServer({ portBase: base + 100, env: { ...env, P2PVPS_DATA_DIR: dataDir2 } });
  peer = await createServer({ portBase: base + 200, env: { P2PVPS_SERVER_NAME: 'p', P2PVPS_FEDERATION_PULL_MS: '0' } });
  operator = await operatorClient(clusterUrl, node1.dataDir);
  peerOperator = await operatorClient(`http://127.0.0.1:${peer.httpPort}`, peer.dataDir);
});

after(async () => {
  for (const s of [peer, node2, node1]) await s?.stop();
  await database?.drop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const peerUrl = () => `http://127.0.0.1:${peer.httpPort}`;

/** Node `n` sends p a signed pull, as its listing sync would: p's answer status, and the key id it was signed with. */
async function pullFrom(n: TestServer): Promise<{ status: number; keyid: string | undefined }> {
  const signed = n.running.federation.client.signed(peerUrl(), 'GET', federationListingsPath);
  const res = await fetch(signed.url, signed.init);
  await res.body?.cancel();
  const input = (signed.init.headers as Record<string, string>)['signature-input'];
  return { status: res.status, keyid: /keyid="([^"]+)"/.exec(input ?? '')?.[1] };
}

test('both nodes of a marketplace sign with one key, though each made its own at first start', async () => {
  const fingerprint = (await operator.call('adminFederation')).identity.fingerprint;
  assert.equal(node2.running.federation.identity.key.id, fingerprint);
  const doc2 = ServerDocument.parse(await (await fetch(`http://127.0.0.1:${node2.httpPort}${wellKnownServerPath}`)).json());
  assert.equal(doc2.key.id, fingerprint, 'node 2 publishes the same key');
  await peerOperator.call('adminLinkPeer', { body: { url: clusterUrl, fingerprint } });
  assert.deepEqual(await pullFrom(node1), { status: 200, keyid: fingerprint });
  assert.deepEqual(await pullFrom(node2), { status: 200, keyid: fingerprint });
});

test('after a rotation through node 1, node 2 signs with the new key, without a restart, and the peer accepts it', async () => {
  const rotated = await operator.call('adminRotateFederationKey');
  // p learns the rotation from node 1's request (it fetches b's document and follows the chain).
  assert.deepEqual(await pullFrom(node1), { status: 200, keyid: rotated.fingerprint });
  const pinned = (await peerOperator.call('adminFederation')).peers.find((p) => p.url === clusterUrl);
  assert.equal(pinned?.fingerprint, rotated.fingerprint);

  if (testDialect() === 'sqlite') await node2.running.federation.sharedKey.reload();
  await waitFor('node 2 holds the new key', async () => node2.running.federation.identity.key.id === rotated.fingerprint);
  // p now pins the new key: a request signed with the old one would be refused as the wrong key.
  assert.deepEqual(await pullFrom(node2), { status: 200, keyid: rotated.fingerprint });
  const doc2 = ServerDocument.parse(await (await fetch(`http://127.0.0.1:${node2.httpPort}${wellKnownServerPath}`)).json());
  assert.equal(doc2.key.id, rotated.fingerprint);
  assert.equal(doc2.previousKeys.at(-1)?.successor, rotated.fingerprint);
});
