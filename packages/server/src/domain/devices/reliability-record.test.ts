import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recordTunnel } from '../../db/devices-repo.ts';
import { DomainError } from '../errors.ts';
import { syncDevice } from '../rentals/agent-sync.ts';
import { market, rent } from '../rentals/rentals.ts';
import { createTestContext } from '../test-context.ts';
import { cancelMaintenance, declareMaintenance, listMaintenance } from './maintenance.ts';
import { refreshReliabilityScores, reliabilityHistory, sampleReliability } from './reliability-record.ts';

const hour = 3_600_000;
type T = Awaited<ReturnType<typeof createTestContext>>;

/** Lets `hours` pass, with the worker sampling every hour. */
async function pass(t: T, hours: number): Promise<void> {
  for (let i = 0; i < hours; i++) {
    t.clock.advance(hour);
    await sampleReliability(t.ctx, hour);
  }
}
const setOnline = (t: T, deviceId: string, online: boolean) => recordTunnel(t.ctx.db, deviceId, online, t.clock.now().toISOString());
const today = (h: Awaited<ReturnType<typeof reliabilityHistory>>) => h.days.at(-1)!;

test('time online is counted only while a device is on the market or rented, and a new device has no score', async () => {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const listed = await t.createListedDevice(owner.id);
  const withdrawn = await t.createListedDevice(owner.id);
  await t.ctx.db.updateTable('devices').set({ on_market: 0 }).where('id', '=', withdrawn).execute();
  await pass(t, 6);
  await setOnline(t, listed, false);
  await pass(t, 2);
  const h = await reliabilityHistory(t.ctx, listed);
  assert.deepEqual(
    { expected: today(h).expectedMs, online: today(h).onlineMs, percent: today(h).percent },
    { expected: 8 * hour, online: 6 * hour, percent: 75 },
  );
  assert.equal(today(await reliabilityHistory(t.ctx, withdrawn, owner.id)).expectedMs, 0, 'off the market: nothing expected');
  await setOnline(t, listed, true);
  await refreshReliabilityScores(t.ctx);
  assert.equal((await reliabilityHistory(t.ctx, listed)).percent, null, 'one day of history: new');
  const [listing] = (await market(t.ctx, { sort: 'price', order: 'asc', limit: 100 })).items;
  assert.equal(listing?.reliabilityPercent, null);
  await assert.rejects(reliabilityHistory(t.ctx, withdrawn), (e: DomainError) => e.code === 'not_found', 'not on the market: owner only');
  await t.close();
});

test('a lost rental and a failed container start count against the device in its score', async () => {
  const t = await createTestContext();
  const { renter, deviceId, rental } = await t.createRunningRental();
  await pass(t, 24 * 8);
  await refreshReliabilityScores(t.ctx);
  assert.equal((await reliabilityHistory(t.ctx, deviceId)).percent, 100);
  // The device reports the running container gone: the rental is lost.
  await syncDevice(t.ctx, deviceId, { container: { rentalId: rental.id, state: 'failed', detail: 'wiped' } });
  await syncDevice(t.ctx, deviceId, { container: null });
  // The next renter's container does not start.
  const next = await rent(t.ctx, renter.id, { deviceId });
  await syncDevice(t.ctx, deviceId, { container: { rentalId: next.id, state: 'failed', detail: 'no space' } });
  await refreshReliabilityScores(t.ctx);
  const h = await reliabilityHistory(t.ctx, deviceId);
  assert.deepEqual([today(h).lostRentals, today(h).failedStarts], [1, 1]);
  assert.equal(h.percent, 87, '100 − 10 − 3');
  const incidents = await t.ctx.db.selectFrom('device_incidents').select(['kind', 'rental_id', 'detail']).orderBy('at').execute();
  assert.deepEqual(incidents, [
    { kind: 'lost_rental', rental_id: rental.id, detail: 'wiped' },
    { kind: 'failed_start', rental_id: next.id, detail: 'no space' },
  ]);
  await t.close();
});

test('the market filters and sorts by reliability; new devices match no minimum and sort last', async () => {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const steady = await t.createListedDevice(owner.id);
  const shaky = await t.createListedDevice(owner.id);
  await pass(t, 24 * 8);
  await setOnline(t, shaky, false);
  await pass(t, 12); // 12 h down of 204 h expected: 94.1 %
  await setOnline(t, shaky, true);
  t.online.add(shaky);
  const fresh = await t.createListedDevice(owner.id);
  await refreshReliabilityScores(t.ctx);
  const q = { sort: 'reliability', order: 'desc', limit: 100 } as const;
  const sorted = (await market(t.ctx, q)).items.map((l) => [l.deviceId, l.reliabilityPercent]);
  assert.deepEqual(sorted, [
    [steady, 100],
    [shaky, 94.1],
    [fresh, null],
  ]);
  const atLeast95 = (await market(t.ctx, { ...q, minReliability: 95 })).items.map((l) => l.deviceId);
  assert.deepEqual(atLeast95, [steady]);
  t.clock.advance(31 * 24 * hour);
  await refreshReliabilityScores(t.ctx);
  assert.equal((await reliabilityHistory(t.ctx, steady)).percent, null, 'a month without a record: no score');
  await t.close();
});

test('downtime inside a declared window counts as maintenance only while the device is not rented', async () => {
  const t = await createTestContext();
  const { owner, renter, deviceId } = await t.createMarket();
  // A sample stands for the hour before it: the window starts just after the second.
  const start = new Date(t.clock.now().getTime() + 2 * hour + 60_000).toISOString();
  const window = await declareMaintenance(t.ctx, owner.id, deviceId, { startsAt: start, minutes: 240 });
  assert.deepEqual(
    (await listMaintenance(t.ctx, owner.id, deviceId)).map((w) => [w.startsAt, w.endsAt]),
    [[start, new Date(new Date(start).getTime() + 4 * hour).toISOString()]],
  );
  await setOnline(t, deviceId, false);
  await pass(t, 2); // down before the window: full downtime
  await pass(t, 2); // down inside it, idle: maintenance
  t.online.add(deviceId);
  await setOnline(t, deviceId, true);
  await rent(t.ctx, renter.id, { deviceId });
  await setOnline(t, deviceId, false);
  await pass(t, 1); // down inside it while rented: full downtime
  const day = today(await reliabilityHistory(t.ctx, deviceId));
  assert.deepEqual([day.expectedMs, day.onlineMs, day.maintenanceMs], [5 * hour, 0, 2 * hour]);
  assert.equal(day.percent, 30, '100 × (1 − (3 + 2/4) / 5)');
  await assert.rejects(cancelMaintenance(t.ctx, owner.id, deviceId, 'nosuchwindow'), (e: DomainError) => e.code === 'not_found');
  await cancelMaintenance(t.ctx, owner.id, deviceId, window.id);
  assert.deepEqual(await listMaintenance(t.ctx, owner.id, deviceId), [], 'one in progress ends now');
  await t.close();
});

test('maintenance is declared at least 1 h ahead, without overlaps, and never over an open rental', async () => {
  const t = await createTestContext();
  const { owner, renter, deviceId } = await t.createMarket();
  const at = (h: number) => new Date(t.clock.now().getTime() + h * hour).toISOString();
  const refusal = (code: string, pattern: RegExp) => (e: DomainError) => e.code === code && pattern.test(e.message);
  await assert.rejects(
    declareMaintenance(t.ctx, owner.id, deviceId, { startsAt: at(0.5), minutes: 60 }),
    refusal('maintenance_window_refused', /at least 1 h before/),
  );
  const first = await declareMaintenance(t.ctx, owner.id, deviceId, { startsAt: at(2), minutes: 120 });
  await assert.rejects(
    declareMaintenance(t.ctx, owner.id, deviceId, { startsAt: at(3), minutes: 60 }),
    refusal('maintenance_window_refused', /overlaps the window/),
  );
  const stranger = await t.createUser('stranger');
  await assert.rejects(declareMaintenance(t.ctx, stranger.id, deviceId, { startsAt: at(5), minutes: 60 }), refusal('not_found', /./));
  await cancelMaintenance(t.ctx, owner.id, deviceId, first.id);
  await rent(t.ctx, renter.id, { deviceId });
  await assert.rejects(
    declareMaintenance(t.ctx, owner.id, deviceId, { startsAt: at(2), minutes: 60 }),
    refusal('maintenance_overlaps_rental', /runs until its renter stops it/),
  );
  await t.close();
});
