import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endExpiredRentals } from '@p2pvps/server/domain/rentals/rentals';
import { clock, createListedDevice, createRenter, createRental, reportContainer, runCli, testServer } from '../test-harness.ts';

test('extend adds hours to a running prepaid rental and prints the new expiry and its cost', async () => {
  const device = await createListedDevice({ name: 'garage-pi' });
  const renter = await createRenter();
  const rental = await createRental({ renter, device, hours: 2 });
  await reportContainer(device, { rentalId: rental.id, state: 'ready' });
  const before = await renter.api.call('getRental', { params: { rentalId: rental.id } });
  assert.ok(before.expiresAt);
  const expected = new Date(Date.parse(before.expiresAt) + 3_600_000);

  const result = await runCli(['extend', rental.id, '--hours', '1'], { env: renter.env });
  assert.equal(result.code, 0, result.stderr);
  const hoursLeft = Math.round((expected.getTime() - clock.now().getTime()) / 3_600_000);
  assert.equal(
    result.stdout,
    `Extended rental ${rental.id} on garage-pi by 1 h: 0.05 EUR held from your balance.\n` +
      `It now expires ${expected
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC')} (in ${hoursLeft}h).\n`,
  );
  const after = await renter.api.call('getRental', { params: { rentalId: rental.id } });
  assert.equal(after.expiresAt, expected.toISOString());
  assert.equal(after.prepaidHours, 3);
});

test("extend passes on the API's refusals: pay-as-you-go, and more than the balance", async () => {
  const device = await createListedDevice({ name: 'shed-pi' });
  const renter = await createRenter();
  const payg = await createRental({ renter, device });
  await reportContainer(device, { rentalId: payg.id, state: 'ready' });
  const result = await runCli(['extend', payg.id, '--hours', '1'], { env: renter.env });
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    'error [invalid_request]: This rental runs until you stop it and is billed per minute; there is nothing to extend.\n' +
      '  params.rentalId: not a prepaid rental\n',
  );
  assert.equal(result.stdout, '');

  const other = await createListedDevice({ name: 'attic-pi' });
  const prepaid = await createRental({ renter, device: other, hours: 1 });
  // 8784 h at 0.05 EUR is more than the renter's 100 of credit.
  const broke = await runCli(['extend', prepaid.id, '--hours', String(24 * 366)], { env: renter.env });
  assert.equal(broke.code, 1);
  assert.match(broke.stderr, /^error \[insufficient_balance\]: Adding 8784 h needs a balance of at least 439.25 EUR /);
});

test('extend without --hours is a usage error', async () => {
  const result = await runCli(['extend', 'rent000001'], { env: { P2PVPS_TOKEN: 't' }, offline: true });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^error \[usage\]: give --hours N, the hours to add, or --auto-renew on\|off\n/);
});

test('rent --hours N --auto-renew keeps the rental running past its end; extend --auto-renew off lets it end', async () => {
  const device = await createListedDevice({ name: 'renew-pi' });
  const renter = await createRenter();
  const rented = await runCli(['rent', device.id, '--hours', '1', '--auto-renew', '--no-wait'], { env: renter.env });
  assert.equal(rented.code, 0, rented.stderr);
  assert.match(rented.stdout, /^Renew +on: renews for its term when it runs out, if your balance covers it$/m);
  const rentalId = /^Rental +(\S+)$/m.exec(rented.stdout)![1]!;
  await reportContainer(device, { rentalId, state: 'ready' });
  const rental = () => renter.api.call('getRental', { params: { rentalId } });
  const firstEnd = Date.parse((await rental()).expiresAt!);
  // The expiry worker's job, run now rather than waited for.
  const expiryCheck = async () => endExpiredRentals((await testServer()).running.ctx);

  clock.advance(61 * 60_000);
  await expiryCheck();
  assert.equal((await rental()).state, 'active', 'renewed: still running past its end');
  assert.equal(Date.parse((await rental()).expiresAt!), firstEnd + 3_600_000);
  const listed = await runCli(['rentals', '--json'], { env: renter.env });
  assert.equal(
    (JSON.parse(listed.stdout) as { rentals: { id: string; autoRenew: boolean }[] }).rentals.find((r) => r.id === rentalId)?.autoRenew,
    true,
  );

  const off = await runCli(['extend', rentalId, '--auto-renew', 'off'], { env: renter.env });
  assert.equal(off.code, 0, off.stderr);
  assert.equal(off.stdout, `Auto-renew of rental ${rentalId}: off ('p2pvps extend RENTAL --auto-renew on').\n`);
  clock.advance(61 * 60_000);
  await expiryCheck();
  const ended = await rental();
  assert.equal(ended.state, 'ending', 'not renewed once turned off');
  assert.equal(ended.endReason, 'expired');
});

test('--auto-renew needs --hours at rent, and on or off at extend', async () => {
  const rent = await runCli(['rent', 'dev0000001', '--auto-renew'], { env: { P2PVPS_TOKEN: 't' }, offline: true });
  assert.equal(rent.code, 2);
  assert.match(rent.stderr, /^error \[usage\]: --auto-renew needs --hours N: only a prepaid term renews\n/);
  const extend = await runCli(['extend', 'rent000001', '--auto-renew', 'yes'], { env: { P2PVPS_TOKEN: 't' }, offline: true });
  assert.equal(extend.code, 2);
  assert.match(extend.stderr, /^error \[usage\]: --auto-renew is on or off\n/);
});
