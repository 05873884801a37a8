import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Listing } from '@p2pvps/protocol/schemas';
import { ManualClock } from '../domain/clock.ts';
import { checkPeerListings, listingSignatureValid, signListing } from './listing-signatures.ts';
import { ServerIdentity } from './server-key.ts';

const clock = new ManualClock(new Date('2026-12-07T02:00:00Z'));
const dirs: string[] = [];
function server(url: string) {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-fedkey-'));
  dirs.push(dir);
  const identity = new ServerIdentity(dir, clock);
  return { url, identity, home: { url, keyId: identity.key.id, sign: (d: Buffer) => identity.sign(d) } };
}
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const listing: Listing = {
  deviceId: 'dev12345',
  name: 'pi',
  description: 'a Raspberry Pi',
  hardware: { cpuModel: 'Cortex-A72', cores: 4, memoryBytes: 1 << 30, diskBytes: 8 << 30, arch: 'arm64' },
  bandwidthMbit: null,
  pricePerHourMicros: 10_000,
  homeServer: 'b',
  listedSince: '2026-12-07T01:00:00.000Z',
  uptimePercent: null,
  reliabilityPercent: null,
  rating: { count: 0, average: null },
};
const b = server('http://b.test');
const c = server('http://c.test');
/** As it arrives: JSON over the wire. */
const wire = (x: unknown) => JSON.parse(JSON.stringify(x)) as Record<string, unknown>;

test('a listing signed by its home server verifies under its key, whatever order its keys arrive in', () => {
  const signed = wire(signListing(listing, b.home, clock.now().toISOString()));
  assert.equal(listingSignatureValid(signed, b.identity.key), true);
  const reordered = Object.fromEntries(Object.entries(signed).reverse());
  assert.equal(listingSignatureValid(reordered, b.identity.key), true);
  assert.equal(listingSignatureValid(signed, c.identity.key), false);
});

test('a peer’s own signed listings are accepted as they were sent', () => {
  const signed = wire(signListing(listing, b.home, clock.now().toISOString()));
  const [stored] = checkPeerListings({ url: b.url, key: b.identity.key }, [signed]);
  assert.equal(stored?.deviceId, 'dev12345');
  assert.equal(listingSignatureValid(JSON.parse(stored!.json), b.identity.key), true, 'a third server can check the stored JSON');
});

test('a listing changed after signing (a lower price) is refused as forged', () => {
  const signed = wire(signListing(listing, b.home, clock.now().toISOString()));
  signed.pricePerHourMicros = 1;
  assert.throws(() => checkPeerListings({ url: b.url, key: b.identity.key }, [signed]), { code: 'federation_listing_forged' });
});

test('a listing in B’s name signed with another key is refused as forged', () => {
  const signed = wire(signListing(listing, { ...c.home, url: b.url }, clock.now().toISOString()));
  assert.throws(() => checkPeerListings({ url: b.url, key: b.identity.key }, [signed]), { code: 'federation_listing_forged' });
});

test('B sending C’s device, even with C’s genuine signature, is refused: a peer may only publish its own devices', () => {
  const fromC = wire(signListing({ ...listing, homeServer: 'c' }, c.home, clock.now().toISOString()));
  assert.equal(listingSignatureValid(fromC, c.identity.key), true);
  assert.throws(() => checkPeerListings({ url: b.url, key: b.identity.key }, [fromC]), { code: 'federation_foreign_listing' });
});

test('something that is not a signed listing is refused as an invalid request', () => {
  assert.throws(() => checkPeerListings({ url: b.url, key: b.identity.key }, [{ deviceId: 'x' }]), { code: 'invalid_request' });
});
