import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DomainError } from '../errors.ts';
import { createTestContext } from '../test-context.ts';
import { syncDevice } from './agent-sync.ts';
import { endExpiredRentals, getRental, market, rent, stopRental } from './rentals.ts';

const hour = 3_600_000;

test('a rental for N hours expires after N hours of activity, and the device is freed only after the wipe', async () => {
  const t = await createTestContext();
  const { renter, deviceId } = await t.createMarket();

  const rental = await rent(t.ctx, renter.id, { deviceId, hours: 2 });
  assert.equal(rental.state, 'requested');
  const nudge = t.nudges.at(-1);
  assert.deepEqual([nudge?.deviceId, nudge?.reason], [deviceId, 'rental_requested'], 'the agent is told at once');

  // The agent's first heartbeat learns what to run, the next reports it ready.
  const first = await syncDevice(t.ctx, deviceId, { container: null });
  assert.equal(first.rental?.rentalId, rental.id);
  assert.deepEqual(nudge?.rental, first.rental, 'the nudge carries the rental as that heartbeat gives it, to start on it sooner');
  assert.match(first.rental?.passwordHash ?? '', /^\$6\$/, 'the device gets a crypt(3) hash of the password (rental-passwords.test.ts)');
  t.clock.advance(5_000);
  const ready = await syncDevice(t.ctx, deviceId, { container: { rentalId: rental.id, state: 'ready' } });
  const active = await getRental(t.ctx, renter.id, rental.id);
  assert.equal(active.state, 'active');
  assert.equal(active.expiresAt, new Date(t.clock.now().getTime() + 2 * hour).toISOString());
  assert.equal(ready.rental?.expiresAt, active.expiresAt, 'the heartbeat reply carries the expiry');

  t.clock.advance(2 * hour - 1);
  assert.equal(await endExpiredRentals(t.ctx), 0, 'not a millisecond early');
  t.clock.advance(1);
  assert.equal(await endExpiredRentals(t.ctx), 1);
  const ending = await getRental(t.ctx, renter.id, rental.id);
  assert.equal(ending.state, 'ending');
  assert.equal(ending.endReason, 'expired');
  assert.equal((await market(t.ctx, { sort: 'price', order: 'asc', limit: 100 })).items.length, 0, 'not listed until wiped');

  const wipe = await syncDevice(t.ctx, deviceId, { container: { rentalId: rental.id, state: 'ready' } });
  assert.equal(wipe.rental, null, 'the agent is told to run nothing');
  assert.equal((await getRental(t.ctx, renter.id, rental.id)).state, 'ending', 'still running: not yet wiped');
  await syncDevice(t.ctx, deviceId, { container: null });
  const ended = await getRental(t.ctx, renter.id, rental.id);
  assert.equal(ended.state, 'ended');
  assert.equal((await market(t.ctx, { sort: 'price', order: 'asc', limit: 100 })).items.length, 1, 'listed again');
  await t.close();
});

test('an open-ended rental never expires; the renter stops it', async () => {
  const t = await createTestContext();
  const { renter, deviceId, rental } = await t.createRunningRental();
  t.clock.advance(1000 * hour);
  assert.equal(await endExpiredRentals(t.ctx), 0);
  const stopped = await stopRental(t.ctx, renter.id, rental.id);
  assert.equal(stopped.state, 'ending');
  assert.equal(stopped.endReason, 'renter_stopped');
  await assert.rejects(stopRental(t.ctx, renter.id, rental.id), (e: DomainError) => e.code === 'rental_not_open');
  await syncDevice(t.ctx, deviceId, { container: null });
  const ended = await getRental(t.ctx, renter.id, rental.id);
  assert.equal(ended.state, 'ended');
  assert.equal(ended.connection.password, '', 'an ended rental no longer hands out its password');
  await t.close();
});

test('a container that fails to start ends the rental with its reason', async () => {
  const t = await createTestContext();
  const { renter, deviceId } = await t.createMarket();
  const rental = await rent(t.ctx, renter.id, { deviceId });
  await syncDevice(t.ctx, deviceId, { container: { rentalId: rental.id, state: 'failed', detail: 'image missing' } });
  const r = await getRental(t.ctx, renter.id, rental.id);
  assert.equal(r.endReason, 'provisioning_failed');
  assert.equal(r.detail, 'image missing');
  await t.close();
});

test('a running rental the device reports it gave up ends as device_lost, not as a failed start', async () => {
  const t = await createTestContext();
  const { renter, deviceId, rental } = await t.createRunningRental();
  const detail = 'the device was cut off from the server for longer than it keeps data, and wiped it';
  await syncDevice(t.ctx, deviceId, { container: { rentalId: rental.id, state: 'failed', detail } });
  const r = await getRental(t.ctx, renter.id, rental.id);
  assert.equal(r.endReason, 'device_lost');
  assert.equal(r.detail, detail);
  await t.close();
});

test('only listed devices can be rented, and never by their owner', async () => {
  const t = await createTestContext();
  const { owner, renter, deviceId } = await t.createMarket();
  await assert.rejects(rent(t.ctx, owner.id, { deviceId }), (e: DomainError) => e.code === 'own_device');
  t.online.delete(deviceId);
  await assert.rejects(rent(t.ctx, renter.id, { deviceId }), (e: DomainError) => e.code === 'device_not_listed');
  await assert.rejects(rent(t.ctx, renter.id, { deviceId: 'nosuchdevice' }), (e: DomainError) => e.code === 'not_found');
  await t.close();
});

test('ten renters race for one device: exactly one wins', async () => {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const deviceId = await t.createListedDevice(owner.id);
  const renters = await Promise.all(Array.from({ length: 10 }, () => t.createUser('renter')));
  const results = await Promise.allSettled(renters.map((r) => rent(t.ctx, r.id, { deviceId })));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as DomainError).code, 'device_not_listed');
  await t.close();
});

test('renter credentials are fresh and random for every rental', async () => {
  const t = await createTestContext();
  const { renter, deviceId } = await t.createMarket();
  const seen = new Set<string>();
  for (let i = 0; i < 5; i++) {
    const r = await rent(t.ctx, renter.id, { deviceId });
    assert.match(r.connection.username, /^r[a-z0-9]{7}$/);
    assert.equal(r.connection.password.length, 20);
    assert.ok(!seen.has(r.connection.password));
    seen.add(r.connection.password);
    await stopRental(t.ctx, renter.id, r.id);
    await syncDevice(t.ctx, deviceId, { container: null });
  }
  await t.close();
});
