import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext } from '../test-context.ts';
import { syncDevice } from './agent-sync.ts';
import { listRentals, market, rent } from './rentals.ts';

test('the market is paged on its sort key and device ID: every listing once, in order', async () => {
  const t = await createTestContext([20000, 20019]);
  const owner = await t.createUser('owner');
  const prices = [30_000, 10_000, 20_000, 10_000, 50_000, 40_000, 20_000];
  const ids: string[] = [];
  for (const price of prices) {
    const id = await t.createListedDevice(owner.id);
    await t.ctx.db.updateTable('devices').set({ price_per_hour_micros: price }).where('id', '=', id).execute();
    ids.push(id);
  }
  for (const order of ['asc', 'desc'] as const) {
    const seen: number[] = [];
    const seenIds: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await market(t.ctx, { sort: 'price', order, limit: 3, ...(cursor ? { cursor } : {}) });
      pages++;
      assert.ok(page.items.length <= 3);
      seen.push(...page.items.map((l) => l.pricePerHourMicros));
      seenIds.push(...page.items.map((l) => l.deviceId));
      cursor = page.next ?? undefined;
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual(
      seen,
      prices.slice().sort((a, b) => (order === 'asc' ? a - b : b - a)),
    );
    assert.deepEqual(seenIds.slice().sort(), ids.slice().sort());
  }
  // Filters apply before paging.
  const cheap = await market(t.ctx, { sort: 'price', order: 'asc', limit: 1, maxPriceMicros: 10_000 });
  assert.equal(cheap.items.length, 1);
  const rest = await market(t.ctx, { sort: 'price', order: 'asc', limit: 1, maxPriceMicros: 10_000, cursor: cheap.next! });
  assert.equal(rest.items.length, 1);
  assert.equal(rest.next, null);
  await t.close();
});

test("a renter's rentals are paged newest first", async () => {
  const t = await createTestContext([20000, 20019]);
  const owner = await t.createUser('owner');
  const renter = await t.createUser('renter');
  const made: string[] = [];
  for (let i = 0; i < 5; i++) {
    const deviceId = await t.createListedDevice(owner.id);
    const rental = await rent(t.ctx, renter.id, { deviceId });
    made.push(rental.id);
    if (i % 2) t.clock.advance(1000); // some made in the same instant
  }
  const first = await listRentals(t.ctx, renter.id, { all: 'true', limit: 2 });
  const second = await listRentals(t.ctx, renter.id, { all: 'true', limit: 2, cursor: first.next! });
  const third = await listRentals(t.ctx, renter.id, { all: 'true', limit: 2, cursor: second.next! });
  assert.equal(third.next, null);
  const all = [...first.items, ...second.items, ...third.items];
  assert.deepEqual(
    all
      .map((r) => r.id)
      .slice()
      .sort(),
    made.slice().sort(),
  );
  for (let i = 1; i < all.length; i++) assert.ok(all[i - 1]!.createdAt >= all[i]!.createdAt);
  await t.close();
});

test('a heartbeat tells the pages only when something they show changed', async () => {
  const t = await createTestContext();
  const { renter, deviceId } = await t.createMarket();
  let told = 0;
  const beat = (body: Parameters<typeof syncDevice>[2]) => syncDevice(t.ctx, deviceId, body, () => told++);
  await beat({ container: null });
  assert.equal(told, 1, 'the first heartbeat');
  await beat({ container: null });
  await beat({ container: null });
  assert.equal(told, 1, 'heartbeats that change nothing');
  await beat({ container: null, storageFault: 'the disk is gone' });
  assert.equal(told, 2);
  await beat({ container: null, storageFault: 'the disk is gone' });
  await beat({ container: null, storageFault: null });
  assert.equal(told, 3);
  const rental = await rent(t.ctx, renter.id, { deviceId });
  await beat({ container: { rentalId: rental.id, state: 'starting' } });
  assert.equal(told, 3, 'still starting');
  await beat({ container: { rentalId: rental.id, state: 'ready' } });
  assert.equal(told, 4, 'the rental is active');
  await beat({ container: { rentalId: rental.id, state: 'ready' } });
  assert.equal(told, 4);
  await t.close();
});
