import { test } from 'node:test';
import assert from 'node:assert/strict';
import { syncDevice } from '../rentals/agent-sync.ts';
import { getRental, rent, stopRental } from '../rentals/rentals.ts';
import { createTestContext } from '../test-context.ts';
import { getDevice, removeDevice } from './devices.ts';
import { resolveWebName, WebRouteCache, type WebRoute } from './web-routing.ts';

test("a device's name leads to it only while a rental on it is active; other names lead nowhere", async () => {
  const t = await createTestContext();
  const { owner, renter, deviceId } = await t.createMarket();
  const listedName = (await getDevice(t.ctx, owner.id, deviceId)).webHost;
  assert.match(listedName, /^[a-z][a-z0-9]{7}\.vps\.example\.org$/);
  assert.deepEqual(await resolveWebName(t.ctx, listedName), { kind: 'none', reason: 'no_rental' }, 'listed but not rented');
  const rental = await rent(t.ctx, renter.id, { deviceId });
  const webHost = rental.connection.webHost;
  assert.match(webHost, /^[a-z][a-z0-9]{7}\.vps\.example\.org$/);
  const route = () => resolveWebName(t.ctx, webHost);
  assert.deepEqual(await route(), { kind: 'none', reason: 'no_rental' }, 'requested: the container is not ready yet');
  await syncDevice(t.ctx, deviceId, { container: { rentalId: rental.id, state: 'ready' } });
  assert.deepEqual(await route(), { kind: 'device', deviceId, rentalId: rental.id });
  await stopRental(t.ctx, renter.id, rental.id);
  assert.deepEqual(await route(), { kind: 'none', reason: 'no_rental' }, 'ending: nothing is served while it is wiped');

  for (const host of ['nosuchname.vps.example.org', `x.${webHost}`, 'example.org', 'vps.example.org.evil.test']) {
    assert.deepEqual(await resolveWebName(t.ctx, host), { kind: 'none', reason: 'unknown_name' }, host);
  }
  for (const host of ['vps.example.org', '127.0.0.1', '[::1]', 'localhost', null]) {
    assert.deepEqual(await resolveWebName(t.ctx, host), { kind: 'api' }, String(host));
  }
  await removeDevice(t.ctx, owner.id, deviceId);
  assert.deepEqual(await route(), { kind: 'none', reason: 'unknown_name' }, 'a removed device has no name');
  await t.close();
});

test("each rental gets a fresh web name: the next renter inherits nothing of the last one's", async () => {
  const t = await createTestContext();
  const { owner, renter, deviceId } = await t.createMarket();
  const listedName = (await getDevice(t.ctx, owner.id, deviceId)).webHost;
  const first = await rent(t.ctx, renter.id, { deviceId });
  assert.notEqual(first.connection.webHost, listedName, 'the name shown before the rental is not the rental’s');
  assert.equal((await getDevice(t.ctx, owner.id, deviceId)).webHost, first.connection.webHost, 'the owner sees the current name');
  assert.equal(t.nudges.at(-1)?.reason, 'rental_requested', 'told after the name changed: the route cache is cleared then');
  await syncDevice(t.ctx, deviceId, { container: { rentalId: first.id, state: 'ready' } });
  await stopRental(t.ctx, renter.id, first.id);
  await syncDevice(t.ctx, deviceId, { container: null });

  const nextRenter = await t.createUser('renter');
  const second = await rent(t.ctx, nextRenter.id, { deviceId });
  await syncDevice(t.ctx, deviceId, { container: { rentalId: second.id, state: 'ready' } });
  assert.notEqual(second.connection.webHost, first.connection.webHost);
  assert.deepEqual(await resolveWebName(t.ctx, second.connection.webHost), { kind: 'device', deviceId, rentalId: second.id });
  assert.deepEqual(
    await resolveWebName(t.ctx, first.connection.webHost),
    { kind: 'none', reason: 'unknown_name' },
    'the first renter’s name leads nowhere, not to the next renter’s site',
  );
  const ended = await getRental(t.ctx, renter.id, first.id);
  assert.equal(ended.state, 'ended');
  assert.deepEqual(
    [ended.connection.webHost, ended.connection.httpUrl, ended.connection.httpsUrl],
    ['', '', ''],
    'an ended rental does not show the device’s current (someone else’s) name',
  );
  await t.close();
});

test('web names are unique and unrelated to device IDs', async () => {
  const t = await createTestContext([20000, 20099]);
  const owner = await t.createUser('owner');
  const names = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const id = await t.createListedDevice(owner.id);
    const { webHost } = await getDevice(t.ctx, owner.id, id);
    assert.ok(!webHost.includes(id.slice(0, 6)));
    names.add(webHost);
  }
  assert.equal(names.size, 50);
  await t.close();
});

test('the route cache keeps device routes until a rental changes, and never keeps "nothing here"', async () => {
  let answer: WebRoute = { kind: 'none', reason: 'no_rental' };
  let lookups = 0;
  const cache = new WebRouteCache(async () => {
    lookups++;
    return answer;
  });
  assert.deepEqual(await cache.resolve('a.vps.test'), answer);
  answer = { kind: 'device', deviceId: 'd', rentalId: 'r' };
  assert.deepEqual(await cache.resolve('a.vps.test'), answer, 'a rental that just became active is seen at once');
  await cache.resolve('a.vps.test');
  assert.equal(lookups, 2, 'the device route came from the cache');
  cache.forget();
  answer = { kind: 'none', reason: 'no_rental' };
  assert.deepEqual(await cache.resolve('a.vps.test'), answer, 'forgotten when the rental ended');

  // A lookup that straddles forget() must not store its (by then stale) answer.
  answer = { kind: 'device', deviceId: 'd', rentalId: 'r' };
  const straddling = cache.resolve('b.vps.test');
  cache.forget();
  await straddling;
  answer = { kind: 'none', reason: 'no_rental' };
  assert.deepEqual(await cache.resolve('b.vps.test'), answer);
});

test("a cluster node's own name leads to the API, as the public URL's does", async () => {
  const t = await createTestContext();
  const host = 'node2.example.org';
  assert.deepEqual(await resolveWebName(t.ctx, host), { kind: 'none', reason: 'unknown_name' }, 'not a node of this cluster');
  const ctx = { ...t.ctx, settings: { ...t.ctx.settings, nodeHostNames: ['node1.example.org', host] } };
  assert.deepEqual(await resolveWebName(ctx, host), { kind: 'api' });
  await t.close();
});
