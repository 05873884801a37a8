import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bringOnline,
  clock,
  createListedDevice,
  createRenter,
  createRental,
  reportContainer,
  runCli,
  takeOffline,
  testServer,
  type EnrolledDevice,
  type TestUser,
} from '../test-harness.ts';

/** A rental of `device` by `renter` that ran an hour (0.05 EUR) and was stopped; the device has reported the wipe. */
async function ranAnHour(renter: TestUser, device: EnrolledDevice) {
  const rental = await createRental({ renter, device });
  await reportContainer(device, { rentalId: rental.id, state: 'ready' });
  clock.advance(3_600_000);
  await renter.api.call('stopRental', { params: { rentalId: rental.id }, body: {} });
  await reportContainer(device, null);
  return rental;
}

test('rate a rental once, read the ratings, and the owner answers once', async () => {
  const device = await createListedDevice({ name: 'garage-pi' });
  const renter = await createRenter();
  const rental = await ranAnHour(renter, device);

  const rated = await runCli(['rate', rental.id, '--stars', '4', '--comment', 'Fast disk.\nWent offline once.'], { env: renter.env });
  assert.equal(rated.code, 0, rated.stderr);
  assert.equal(rated.stdout, `Rated rental ${rental.id} ★★★★☆; it shows on the device's listing (p2pvps reviews ${device.id}).\n`);
  const again = await runCli(['rate', rental.id, '--stars', '1'], { env: renter.env });
  assert.equal(again.code, 1);
  assert.equal(again.stderr, 'error [already_rated]: You have already rated this rental; a rental is rated once.\n');

  const market = await runCli(['market'], { env: renter.env });
  assert.match(market.stdout, /RATING/);
  assert.match(market.stdout, new RegExp(`${device.id} +garage-pi .* 4\\.0 \\(1\\)`));

  const page = await runCli(['reviews', device.id], { env: renter.env });
  assert.equal(page.code, 0, page.stderr);
  const [review] = (await renter.api.call('deviceReviews', { params: { deviceId: device.id } })).reviews;
  assert.equal(
    page.stdout,
    'garage-pi: 4.0 of 5 from 1 rating\n\n' +
      `★★★★☆  2026-03-02 ${review!.createdAt.slice(11, 19)} UTC (just now)  rating ${review!.id}\n` +
      '  Fast disk.\n  Went offline once.\n',
  );

  const notOwner = await runCli(['answer', review!.id, 'Thanks'], { env: renter.env });
  assert.equal(notOwner.code, 1);
  assert.match(notOwner.stderr, /^error \[not_found\]/);
  const answered = await runCli(['answer', review!.id, 'The router rebooted; fixed.'], { env: device.owner.env });
  assert.equal(answered.code, 0, answered.stderr);
  assert.equal(answered.stdout, `Answered rating ${review!.id}; your answer shows beside it on the listing.\n`);
  const twice = await runCli(['answer', review!.id, 'More'], { env: device.owner.env });
  assert.match(twice.stderr, /^error \[already_answered\]/);
  const withAnswer = await runCli(['reviews', device.id], { env: renter.env });
  assert.match(withAnswer.stdout, /\n {2}Owner's answer \(2026-03-02 [\d:]+ UTC \(just now\)\):\n {4}The router rebooted; fixed\.\n$/);
});

test('rate checks its stars before asking the server, and a running rental cannot be rated yet', async () => {
  const usage = await runCli(['rate', 'rent000001', '--stars', '6'], { env: { P2PVPS_TOKEN: 't' }, offline: true });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /^error \[usage\]: give --stars 1 to 5\n/);

  const device = await createListedDevice({ name: 'shed-pi' });
  const renter = await createRenter();
  const rental = await createRental({ renter, device });
  await reportContainer(device, { rentalId: rental.id, state: 'ready' });
  const early = await runCli(['rate', rental.id, '--stars', '5'], { env: renter.env });
  assert.equal(early.code, 1);
  assert.equal(early.stderr, 'error [rental_not_ended]: This rental is still running; rate it once it has ended.\n');
  const empty = await runCli(['reviews', device.id], { env: renter.env });
  assert.equal(empty.stdout, 'shed-pi has no ratings yet.\n');
});

test('a renter disputes a rental; the operator reads its facts and refunds part; the renter sees the outcome', async () => {
  const { operatorEnv } = await testServer();
  const device = await createListedDevice({ name: 'attic-pi' });
  const renter = await createRenter();
  const rental = await createRental({ renter, device });
  await reportContainer(device, { rentalId: rental.id, state: 'ready' });
  clock.advance(30 * 60_000);
  await takeOffline(device); // the tunnel drops for 6 of the rental's 60 minutes: the rental's log has it
  clock.advance(6 * 60_000);
  await bringOnline(device);
  clock.advance(24 * 60_000);
  await renter.api.call('stopRental', { params: { rentalId: rental.id }, body: {} });
  await reportContainer(device, null);

  const noReason = await runCli(['dispute', rental.id], { env: renter.env, offline: true });
  assert.equal(noReason.code, 2);
  const opened = await runCli(['dispute', rental.id, '--reason', 'SSH refused me for half the hour.'], { env: renter.env });
  assert.equal(opened.code, 0, opened.stderr);
  const id = /^Opened dispute (\w+) about rental /.exec(opened.stdout)?.[1];
  assert.ok(id, opened.stdout);
  assert.equal(
    opened.stdout,
    `Opened dispute ${id} about rental ${rental.id} on attic-pi.\nThe operator will look at it; you are mailed the outcome, and p2pvps disputes shows it.\n`,
  );

  const notOperator = await runCli(['admin', 'dispute-refund', id, '0.02'], { env: renter.env });
  assert.match(notOperator.stderr, /^error \[not_found\]/);

  const list = await runCli(['admin', 'disputes'], { env: operatorEnv });
  assert.equal(list.code, 0, list.stderr);
  assert.match(
    list.stdout,
    new RegExp(`^DISPUTE +OPENED +RENTER +DEVICE +PAID +UPTIME +STATE\n${id} .* ${renter.email} +attic-pi +0\\.045 EUR +90% +open\n`),
  );

  const facts = await runCli(['admin', 'dispute', id], { env: operatorEnv });
  assert.equal(facts.code, 0, facts.stderr);
  assert.match(facts.stdout, /^Reason +SSH refused me for half the hour\.$/m);
  assert.match(facts.stdout, /^Rental +\w+, ended: renter_stopped$/m);
  assert.match(facts.stdout, /^Paid +0\.045 EUR for 54 min \(marketplace fee 0\.0045 EUR\)$/m);
  assert.match(facts.stdout, /^Uptime +90% \(6 min offline\)$/m);
  assert.match(facts.stdout, /^Traffic +0 B in, 0 B out$/m);
  assert.match(
    facts.stdout,
    /\nLog:\n {2}TIME +EVENT +DETAIL\n {2}.* requested\n {2}.* container started\n {2}.* device offline\n {2}.* device online\n {2}.* ending +renter_stopped\n {2}.* container removed\n/,
  );
  assert.match(facts.stdout, new RegExp(`Decide: p2pvps admin dispute-refund ${id} AMOUNT \\[--note TEXT\\] \\(at most 0\\.045 EUR\\)`));

  const tooMuch = await runCli(['admin', 'dispute-refund', id, '0.06'], { env: operatorEnv });
  assert.equal(tooMuch.code, 1);
  assert.match(
    tooMuch.stderr,
    /^error \[refund_exceeds_paid\]: The renter paid 0\.045 EUR for this rental; a refund cannot be more than that\./,
  );
  const before = await renter.api.call('getBalance');
  const refunded = await runCli(['admin', 'dispute-refund', id, '0.02', '--note', 'Half of the time it was down.'], { env: operatorEnv });
  assert.equal(refunded.code, 0, refunded.stderr);
  assert.equal(refunded.stdout, `Refunded 0.02 EUR of rental ${rental.id} to ${renter.email}'s balance; they are mailed the outcome.\n`);
  assert.equal((await renter.api.call('getBalance')).balanceMicros, before.balanceMicros + 20_000);

  const mine = await runCli(['disputes'], { env: renter.env });
  assert.match(mine.stdout, /^Outcome +refunded 0\.02 EUR$/m);
  assert.match(mine.stdout, /^Note +Half of the time it was down\.$/m);
  const rejectLate = await runCli(['admin', 'dispute-reject', id, '--note', 'no'], { env: operatorEnv });
  assert.match(rejectLate.stderr, /^error \[dispute_not_open\]/);
});
