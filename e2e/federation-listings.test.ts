import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiClient, ApiError } from '@p2pvps/protocol/client';
import { federationListingsPath, wellKnownServerPath, ServerDocument } from '@p2pvps/protocol/federation-schemas';
import type { Listing } from '@p2pvps/protocol/schemas';
import { operatorClient } from '@p2pvps/server/services/operator-client';
import { createAgent, createServer, createUser, portBlock, removeDeviceContainers, waitFor, type TestServer } from './harness.ts';

/**
 * Three independent marketplaces on loopback (each its own data dir, database and
 * operator), linked by their operators by URL and key fingerprint. A device enrolled and
 * listed on B appears on A's and C's markets marked with B; a forged listing, a replayed
 * request and a peer publishing another server's device are refused.
 */
interface Marketplace {
  name: string;
  server: TestServer;
  url: string;
  operator: ApiClient;
}
const markets: Marketplace[] = [];
let a: Marketplace;
let b: Marketplace;
let c: Marketplace;
let deviceId: string | undefined;
let owner: { api: ApiClient };

// Three blocks of 100 ports side by side, so the three servers never pick the same one.
const base = portBlock(300);

async function marketplace(name: string, block: number): Promise<Marketplace> {
  const server = await createServer({
    portBase: base + block * 100,
    env: { P2PVPS_SERVER_NAME: name, P2PVPS_FEDERATION_PUSH_CHECK_MS: '200', P2PVPS_FEDERATION_PULL_MS: '0' },
  });
  const url = `http://127.0.0.1:${server.httpPort}`;
  const m = { name, server, url, operator: await operatorClient(url, server.dataDir) };
  markets.push(m);
  return m;
}

async function fingerprint(m: Marketplace): Promise<string> {
  return (await m.operator.call('adminFederation')).identity.fingerprint;
}

async function link(from: Marketplace, to: Marketplace): Promise<void> {
  const peer = await from.operator.call('adminLinkPeer', { body: { url: to.url, fingerprint: await fingerprint(to) } });
  assert.equal(peer.name, to.name);
}

const marketOf = async (m: Marketplace): Promise<Listing[]> => (await m.server.api.call('market', { query: {} })).listings;

/** Sends a request to `to` signed by `from`'s server key, as `from`'s federation client would; the reply's status and body. */
async function send(signed: { url: string; init: RequestInit }): Promise<{ status: number; body: { code?: string; message?: string } }> {
  const res = await fetch(signed.url, signed.init);
  return { status: res.status, body: (await res.json()) as { code?: string } };
}

before(async () => {
  a = await marketplace('a', 0);
  b = await marketplace('b', 1);
  c = await marketplace('c', 2);
});

after(async () => {
  await removeDeviceContainers(deviceId);
  for (const m of markets) await m.server.stop();
});

test('each server publishes its name, URL and key at the well-known path, with the fingerprint its operator sees', async () => {
  for (const m of [a, b, c]) {
    const doc = ServerDocument.parse(await (await fetch(`${m.url}${wellKnownServerPath}`)).json());
    assert.equal(doc.name, m.name);
    assert.equal(doc.url, m.url);
    assert.equal(doc.key.id, await fingerprint(m));
  }
});

test('linking refuses a peer whose published key does not have the fingerprint the operator gave', async () => {
  await assert.rejects(
    a.operator.call('adminLinkPeer', { body: { url: c.url, fingerprint: await fingerprint(b) } }),
    (err: ApiError) => err.code === 'federation_fingerprint_mismatch' && err.message.includes(c.url),
  );
  assert.deepEqual((await a.operator.call('adminFederation')).peers, []);
});

test("a device listed on B appears on A's and C's markets, marked with B as its home server", async () => {
  for (const [from, to] of [
    [a, b],
    [b, a],
    [a, c],
    [c, a],
    [b, c],
    [c, b],
  ] as const)
    await link(from, to);
  owner = await createUser(b.server, 'owner', 0);
  const grant = await owner.api.call('addDevice', { body: { name: 'pi-on-b' } });
  deviceId = grant.device.id;
  await createAgent(b.server, grant.enrolmentToken);
  const id = deviceId;
  await waitFor('the device to come online on B', async () => (await owner.api.call('getDevice', { params: { deviceId: id } })).online);
  const listedAt = Date.now();
  await owner.api.call('updateDevice', { params: { deviceId: id }, body: { pricePerHourMicros: 12_000, onMarket: true } });
  for (const m of [a, c]) {
    const listing = await waitFor(`B's device on ${m.name}'s market`, async () => (await marketOf(m)).find((l) => l.deviceId === id));
    assert.equal(listing.homeServer, 'b');
    assert.equal(listing.homeServerUrl, b.url);
    assert.equal(listing.pricePerHourMicros, 12_000);
    assert.equal(listing.name, 'pi-on-b');
  }
  console.log(`# a new listing on B appeared on A's and C's markets after ${Date.now() - listedAt} ms`);
  // Each side's fee, before renting (renting it through A: e2e/federation-rental.test.ts).
  const onA = (await marketOf(a)).find((l) => l.deviceId === id);
  assert.equal(onA?.federationFees?.homeFeePercent, 10);
  // On its home server it is an ordinary listing.
  const home = (await marketOf(b)).find((l) => l.deviceId === id);
  assert.equal(home?.homeServerUrl, undefined);
  const peers = (await a.operator.call('adminFederation')).peers;
  assert.equal(peers.find((p) => p.url === b.url)?.listings, 1);
});

test("a suspended peer's listings are hidden; resumed, A pulls them again", async () => {
  const peerB = (await a.operator.call('adminFederation')).peers.find((p) => p.url === b.url)!;
  await a.operator.call('adminUpdatePeer', { params: { peerId: peerB.id }, body: { state: 'suspended' } });
  assert.equal(
    (await marketOf(a)).some((l) => l.deviceId === deviceId),
    false,
  );
  // B's requests are refused meanwhile.
  const refused = await send(b.server.running.federation.client.signed(a.url, 'GET', federationListingsPath));
  assert.equal(refused.body.code, 'federation_peer_suspended');
  await a.operator.call('adminUpdatePeer', { params: { peerId: peerB.id }, body: { state: 'active' } });
  await waitFor("B's device back on A's market", async () => (await marketOf(a)).some((l) => l.deviceId === deviceId));
});

test('a forged listing (a price changed after B signed it) is refused, and the market keeps the signed one', async () => {
  const listings = (await b.server.running.federation.sync.snapshot()).map((l) => ({ ...l, pricePerHourMicros: 1 }));
  const reply = await send(b.server.running.federation.client.signed(a.url, 'POST', federationListingsPath, { listings }));
  assert.equal(reply.status, 422);
  assert.equal(reply.body.code, 'federation_listing_forged');
  assert.equal((await marketOf(a)).find((l) => l.deviceId === deviceId)?.pricePerHourMicros, 12_000);
});

test('a replayed signed request is refused', async () => {
  const listings = await b.server.running.federation.sync.snapshot();
  const signed = b.server.running.federation.client.signed(a.url, 'POST', federationListingsPath, { listings });
  assert.equal((await send(signed)).status, 200);
  const replay = await send(signed);
  assert.equal(replay.status, 401);
  assert.equal(replay.body.code, 'federation_replay');
});

test("a peer publishing another server's device (C relaying B's genuinely signed listing as its own) is refused", async () => {
  const fromB = await b.server.running.federation.sync.snapshot();
  const reply = await send(c.server.running.federation.client.signed(a.url, 'POST', federationListingsPath, { listings: fromB }));
  assert.equal(reply.status, 403);
  assert.equal(reply.body.code, 'federation_foreign_listing');
  assert.match(reply.body.message ?? '', /may only publish its own devices/);
  // A still shows the device as B's alone.
  const shown = (await marketOf(a)).filter((l) => l.deviceId === deviceId);
  assert.deepEqual(
    shown.map((l) => l.homeServerUrl),
    [b.url],
  );
});

test("after B rotates its key, A and C follow it (signed by the old key) and B's listings still arrive", async () => {
  const before = await fingerprint(b);
  const rotated = await b.operator.call('adminRotateFederationKey');
  assert.notEqual(rotated.fingerprint, before);
  assert.equal(rotated.previousKeys[0]?.id, before);
  // A change on B: the next push is signed with the new key.
  await owner.api.call('updateDevice', { params: { deviceId: deviceId! }, body: { pricePerHourMicros: 13_000 } });
  for (const m of [a, c]) {
    await waitFor(
      `the new price on ${m.name}`,
      async () => (await marketOf(m)).find((l) => l.deviceId === deviceId)?.pricePerHourMicros === 13_000,
    );
    const peer = (await m.operator.call('adminFederation')).peers.find((p) => p.url === b.url);
    assert.equal(peer?.fingerprint, rotated.fingerprint);
  }
});
