import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiClient } from '@p2pvps/protocol/client';
import { refreshReliabilityScores } from '@p2pvps/server/domain/devices/reliability-record';
import { windowDays } from '@p2pvps/server/domain/devices/reliability';
import { clock, createListedDevice, createOwner, createRenter, runCli, testServer } from '../test-harness.ts';

const hour = 3_600_000;

/** Gives a device `days` days of history, each 24 h on the market and `onlineHours` of them online, and refreshes the scores. */
async function history(deviceId: string, days: number, onlineHours: number, extra: { lostRentals?: number } = {}): Promise<void> {
  const { running } = await testServer();
  const rows = windowDays(clock.now())
    .slice(-days)
    .map((day, i) => ({
      device_id: deviceId,
      day,
      expected_ms: 24 * hour,
      online_ms: onlineHours * hour,
      maintenance_ms: 0,
      failed_starts: 0,
      lost_rentals: i === 0 ? (extra.lostRentals ?? 0) : 0,
    }));
  await running.ctx.db.deleteFrom('device_reliability_days').where('device_id', '=', deviceId).execute();
  await running.ctx.db.insertInto('device_reliability_days').values(rows).execute();
  await refreshReliabilityScores(running.ctx);
}

test('the market API and `market` filter and sort by reliability, new devices last and never above a minimum', async () => {
  const { url } = await testServer();
  const owner = await createOwner();
  const steady = await createListedDevice({ owner, name: 'steady' });
  const shaky = await createListedDevice({ owner, name: 'shaky' });
  const lossy = await createListedDevice({ owner, name: 'lossy' });
  const fresh = await createListedDevice({ owner, name: 'fresh' });
  await history(steady.id, 30, 24);
  await history(shaky.id, 10, 21.6); // 90 %
  await history(lossy.id, 10, 24, { lostRentals: 1 }); // 100 − 10
  await history(fresh.id, 3, 24); // too little: new

  // Equal scores keep the market's tie order: by device ID.
  const tied = [lossy, shaky].sort((a, b) => a.id.localeCompare(b.id));
  const api = new ApiClient({ baseUrl: url });
  const mine = new Set([steady.id, shaky.id, lossy.id, fresh.id]);
  const sorted = await api.call('market', { query: { sort: 'reliability', order: 'desc', limit: 500 } });
  assert.deepEqual(
    sorted.listings.filter((l) => mine.has(l.deviceId)).map((l) => [l.name, l.reliabilityPercent]),
    [['steady', 100], ...tied.map((d) => [d.name, 90]), ['fresh', null]],
  );
  const atLeast95 = await api.call('market', { query: { minReliability: 95, limit: 500 } });
  assert.deepEqual(
    atLeast95.listings.filter((l) => mine.has(l.deviceId)).map((l) => l.name),
    ['steady'],
  );

  const cli = await runCli(['market', '--sort', 'reliability', '--desc', '--min-reliability', '90']);
  assert.equal(cli.code, 0, cli.stderr);
  const rows = cli.stdout
    .trimEnd()
    .split('\n')
    .filter((l) => [...mine].some((id) => l.startsWith(id)));
  assert.deepEqual(
    rows.map((l) => l.split(/\s+/).filter((w) => ['steady', 'shaky', 'lossy', '100%', '90%'].includes(w))),
    [['steady', '100%'], ...tied.map((d) => [d.name, '90%'])],
  );
  const bad = await runCli(['market', '--min-reliability', 'high'], { offline: true });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^error \[usage\]: --min-reliability must be a percentage from 0 to 100, like 95, not "high"/);
});

test("anyone sees a listed device's 30 days; its owner sees them with `devices reliability`", async () => {
  const { url } = await testServer();
  const owner = await createOwner();
  const device = await createListedDevice({ owner, name: 'history-pi' });
  await history(device.id, 8, 18);
  const anonymous = new ApiClient({ baseUrl: url });
  const seen = await anonymous.call('listingReliability', { params: { deviceId: device.id } });
  assert.equal(seen.percent, 75);
  assert.equal(seen.days.length, 30);
  assert.deepEqual(seen.days.at(-1), {
    day: clock.now().toISOString().slice(0, 10),
    expectedMs: 24 * hour,
    onlineMs: 18 * hour,
    maintenanceMs: 0,
    failedStarts: 0,
    lostRentals: 0,
    percent: 75,
  });
  const result = await runCli(['devices', 'reliability', 'history-pi'], { env: owner.env });
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.split('\n');
  assert.equal(lines[0], 'history-pi: reliability 75% over the last 30 days.');
  assert.equal(lines[1], 'DAY         EXPECTED  ONLINE  MAINTENANCE  FAILED STARTS  LOST RENTALS  SCORE');
  assert.equal(lines[2], `${windowDays(clock.now()).at(-8)}     24.0h   18.0h         0.0h              0             0    75%`);
  assert.equal(lines.length, 2 + 8 + 1);
});

test('devices maintenance declares, lists and cancels windows, and refuses one over an open rental', async () => {
  const owner = await createOwner();
  const device = await createListedDevice({ owner, name: 'maint-pi' });
  const declared = await runCli(['devices', 'maintenance', 'maint-pi', '--from', '+2h', '--hours', '1.5'], { env: owner.env });
  assert.equal(declared.code, 0, declared.stderr);
  const [, windowId = ''] = /^Maintenance window ([a-z0-9]+) for maint-pi:\n/.exec(declared.stdout) ?? [];
  const from = new Date(clock.now().getTime() + 2 * hour);
  const exact = (d: Date) =>
    d
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, ' UTC');
  assert.equal(
    declared.stdout,
    `Maintenance window ${windowId} for maint-pi:\n` +
      `  from ${exact(from)} (in 2h)\n` +
      `  to   ${exact(new Date(from.getTime() + 1.5 * hour))} (in 3h 30m)\n` +
      'Downtime inside it counts a quarter in the reliability score while the device is not rented.\n',
  );
  const list = await runCli(['devices', 'maintenance', 'maint-pi'], { env: owner.env });
  assert.match(list.stdout, new RegExp(`^WINDOW +FROM +TO\\n${windowId} +${exact(from)} \\(in 2h\\) +`));

  const soon = await runCli(['devices', 'maintenance', 'maint-pi', '--from', '+30m', '--hours', '1'], { env: owner.env });
  assert.equal(soon.code, 1);
  assert.match(
    soon.stderr,
    /^error \[maintenance_window_refused\]: This maintenance window is refused: it must be declared at least 1 h before/,
  );
  const long = await runCli(['devices', 'maintenance', 'maint-pi', '--from', '+2h', '--hours', '9'], { offline: true, env: owner.env });
  assert.equal(long.code, 2);
  assert.match(long.stderr, /--hours must be from 0\.25 to 8/);

  const cancelled = await runCli(['devices', 'maintenance', 'maint-pi', '--cancel', windowId], { env: owner.env });
  assert.equal(cancelled.stdout, `Cancelled maintenance window ${windowId} of maint-pi.\n`);
  const none = await runCli(['devices', 'maintenance', 'maint-pi'], { env: owner.env });
  assert.equal(none.stdout, 'maint-pi has no maintenance window ahead; declare one with --from TIME --hours H.\n');

  const renter = await createRenter();
  await renter.api.call('rent', { body: { deviceId: device.id } });
  const overRental = await runCli(['devices', 'maintenance', 'maint-pi', '--from', '+2h', '--hours', '1'], { env: owner.env });
  assert.equal(overRental.code, 1);
  assert.match(overRental.stderr, /^error \[maintenance_overlaps_rental\]: The device has a rental that runs until its renter stops it/);
});
