import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clock, createListedDevice, createRenter, createRental, reportContainer, runCli } from '../test-harness.ts';

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
  assert.match(result.stderr, /^error \[usage\]: give --hours N, the hours to add\n/);
});
