import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findDevice, markAllOffline, recordTunnel, uptimePercent } from '../../db/devices-repo.ts';
import { market } from '../rentals/rentals.ts';
import { createTestContext } from '../test-context.ts';

const hour = 3_600_000;

test("a device's uptime is the share of the time since enrolment its tunnel was up, known after a day", async () => {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const deviceId = await t.createListedDevice(owner.id);
  const at = () => t.clock.now().toISOString();
  await recordTunnel(t.ctx.db, deviceId, true, at());
  t.clock.advance(18 * hour);
  await recordTunnel(t.ctx.db, deviceId, false, at());
  t.clock.advance(2 * hour);
  assert.equal(uptimePercent((await findDevice(t.ctx.db, deviceId))!, t.clock.now()), null, 'less than a day: no figure yet');
  t.clock.advance(4 * hour);
  assert.equal(uptimePercent((await findDevice(t.ctx.db, deviceId))!, t.clock.now()), 75);
  await recordTunnel(t.ctx.db, deviceId, true, at());
  t.clock.advance(8 * hour); // up again and still up: counted to now
  assert.equal(uptimePercent((await findDevice(t.ctx.db, deviceId))!, t.clock.now()), 81.3);
  const {
    items: [listing],
  } = await market(t.ctx, { sort: 'price', order: 'asc', limit: 100 });
  assert.equal(listing?.uptimePercent, 81.3, 'the marketplace shows it');
  await t.close();
});

test('a server restart credits a device that was up only until it was last heard of', async () => {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const deviceId = await t.createListedDevice(owner.id);
  await recordTunnel(t.ctx.db, deviceId, true, t.clock.now().toISOString());
  t.clock.advance(12 * hour);
  await t.ctx.db.updateTable('devices').set({ last_heartbeat_at: t.clock.now().toISOString() }).where('id', '=', deviceId).execute();
  t.clock.advance(12 * hour); // the server was down for these twelve hours, then starts again
  await markAllOffline(t.ctx.db);
  const row = (await findDevice(t.ctx.db, deviceId))!;
  assert.equal(row.online, 0);
  assert.equal(uptimePercent(row, t.clock.now()), 50);
  await t.close();
});
