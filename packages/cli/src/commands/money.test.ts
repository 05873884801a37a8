import assert from 'node:assert/strict';
import { test } from 'node:test';
import { meterTick } from '@p2pvps/server/domain/rentals/meter-tick';
import {
  bringOnline,
  clock,
  createListedDevice,
  createOwner,
  createRenter,
  reportContainer,
  runCli,
  takeOffline,
  testServer,
} from '../test-harness.ts';

/** Sums the amount column of `statement --csv` lines matching `filter`, in micro-units. */
function csvSum(csv: string, filter: (cols: string[]) => boolean): number {
  return csv
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split(','))
    .filter(filter)
    .reduce((sum, cols) => sum + Math.round(Number(cols.at(-2)) * 1_000_000), 0);
}

test('the operator grants and takes back credit; the user sees balance and statement, also as CSV', async () => {
  const { operatorEnv } = await testServer();
  const renter = await createRenter(); // starts with 100 EUR of test credit
  const granted = await runCli(['admin', 'credit', renter.email, '12.5', '--memo', 'welcome, "friend"'], { env: operatorEnv });
  assert.equal(granted.code, 0, granted.stderr);
  assert.equal(granted.stdout, `Granted 12.50 EUR; ${renter.email} now has 112.50 EUR.\n`);
  const removed = await runCli(['admin', 'credit', renter.email, '2.5', '--remove'], { env: operatorEnv });
  assert.equal(removed.stdout, `Removed 2.50 EUR; ${renter.email} now has 110.00 EUR.\n`);
  const tooMuch = await runCli(['admin', 'credit', renter.email, '1000', '--remove'], { env: operatorEnv });
  assert.equal(tooMuch.code, 1);
  assert.match(tooMuch.stderr, /^error \[insufficient_balance\]: Cannot remove 1000\.00 EUR: the balance is 110\.00 EUR\./);

  const notOperator = await runCli(['admin', 'credit', renter.email, '5'], { env: renter.env });
  assert.equal(notOperator.code, 1);
  assert.match(notOperator.stderr, /^error \[not_found\]/, 'a user who is not the operator does not even see the route');

  const balance = await runCli(['balance'], { env: renter.env });
  assert.equal(balance.stdout, 'Balance   110.00 EUR\nEarnings  0.00 EUR\n');
  const csv = await runCli(['statement', '--csv'], { env: renter.env });
  const lines = csv.stdout.trim().split('\n');
  assert.equal(lines[0], 'time,account,kind,memo,rental,amount,currency');
  assert.match(lines[2] ?? '', /^[^,]+,balance,credit,"welcome, ""friend""",,12\.50,EUR$/);
  assert.match(lines[3] ?? '', /^[^,]+,balance,credit_removal,credit removed by the operator,,-2\.50,EUR$/);
});

test('end to end: a renter tops up, rents for hours through an outage, stops; renter, owner and marketplace agree to the unit', async () => {
  const { running, operatorEnv } = await testServer();
  const minutes = async (n: number) => {
    for (let i = 0; i < n; i++) {
      clock.advance(60_000);
      await meterTick(running.ctx);
    }
  };
  const fees = async () => {
    const ledger = JSON.parse((await runCli(['admin', 'ledger', '--json'], { env: operatorEnv })).stdout);
    assert.equal(ledger.totalMicros, 0, 'the books balance');
    return ledger.accounts.find((a: { kind: string }) => a.kind === 'marketplace_fees')?.balanceMicros ?? 0;
  };
  const owner = await createOwner();
  const device = await createListedDevice({ owner, name: 'attic-pi', pricePerHourMicros: 370_000 });
  const renter = await createRenter();
  const feesBefore = await fees();
  assert.equal((await runCli(['admin', 'credit', renter.email, '4.20', '--memo', 'top-up'], { env: operatorEnv })).code, 0);

  const rented = await runCli(['rent', 'attic-pi', '--no-wait', '--json'], { env: renter.env });
  assert.equal(rented.code, 0, rented.stderr);
  const rentalId = JSON.parse(rented.stdout).id;
  await reportContainer(device, { rentalId, state: 'ready' });
  await minutes(100);
  await takeOffline(device); // the owner's router reboots: 25 minutes without the device
  await minutes(25);
  await bringOnline(device);
  await reportContainer(device, { rentalId, state: 'ready' });
  await minutes(80);
  const stopped = await runCli(['stop', rentalId], { env: renter.env });
  assert.equal(stopped.code, 0, stopped.stderr);

  // 180 minutes billed at 0.37/h = 1.11 EUR; 10% to the marketplace.
  const charged = 1_110_000;
  const fee = 111_000;
  const rental = await renter.api.call('getRental', { params: { rentalId } });
  assert.equal(rental.costMicros, charged, 'the 25 minutes offline were not billed');
  const renterCsv = (await runCli(['statement', '--csv'], { env: renter.env })).stdout;
  assert.equal(
    csvSum(renterCsv, (c) => c[4] === rentalId),
    -charged,
    "the renter's statement shows the rental's charges",
  );
  assert.equal(
    csvSum(renterCsv, () => true),
    100_000_000 + 4_200_000 - charged,
  );
  assert.match((await runCli(['balance'], { env: renter.env })).stdout, /^Balance +103\.09 EUR$/m);

  const ownerCsv = (await runCli(['statement', '--csv'], { env: owner.env })).stdout;
  assert.equal(
    csvSum(ownerCsv, (c) => c[1] === 'earnings' && c[4] === rentalId),
    charged - fee,
  );
  const earnings = JSON.parse((await runCli(['earnings', '--json'], { env: owner.env })).stdout);
  assert.deepEqual(
    earnings.rentals.map((r: Record<string, unknown>) => [r.rentalId, r.minutesBilled, r.chargedMicros, r.feeMicros, r.earnedMicros]),
    [[rentalId, 180, charged, fee, charged - fee]],
  );
  assert.equal(earnings.devices[0].earnedMicros, charged - fee);
  assert.equal(earnings.availableMicros, charged - fee);
  assert.equal((await fees()) - feesBefore, fee, "the marketplace's fees grew by exactly the fee");

  const shown = await runCli(['earnings'], { env: owner.env });
  assert.match(shown.stdout, /^Available 0\.999 EUR$/m);
  assert.match(shown.stdout, /^attic-pi +1 +0\.999 EUR$/m);

  // The owner asks for a payout; the operator starts it, pays it and records it.
  const tooMuch = await runCli(['payout', 'request', '1', '--to', 'owner@paypal.example'], { env: owner.env });
  assert.equal(tooMuch.code, 1);
  assert.match(
    tooMuch.stderr,
    /^error \[insufficient_earnings\]: You asked for 1\.00 EUR; your devices have earned 1\.00 EUR not yet paid out\./,
  );
  const requested = await runCli(['payout', 'request', '0.90', '--to', 'owner@paypal.example', '--json'], { env: owner.env });
  assert.equal(requested.code, 0, requested.stderr);
  const payoutId = JSON.parse(requested.stdout).id;
  const queue = await runCli(['admin', 'payouts', '--state', 'requested'], { env: operatorEnv });
  assert.match(queue.stdout, new RegExp(`^${payoutId} +${owner.email} +0\\.90 EUR +requested +owner@paypal\\.example`, 'm'));
  const unstarted = await runCli(['admin', 'payout-paid', payoutId, '--rail', 'paypal', '--reference', 'PAYID-42'], { env: operatorEnv });
  assert.match(unstarted.stderr, /^error \[payout_not_open\]: Payout \w+ is not started: start it first \(p2pvps admin payout-start \w+\)/);
  const started = await runCli(['admin', 'payout-start', payoutId], { env: operatorEnv });
  assert.equal(
    started.stdout,
    `Started payout ${payoutId}: 0.90 EUR to owner@paypal.example (processing).\n` +
      `Pay it now, then record it: p2pvps admin payout-paid ${payoutId} --rail RAIL --reference REF\n`,
  );
  const lateCancel = await runCli(['payout', 'cancel', payoutId], { env: owner.env });
  assert.match(lateCancel.stderr, /^error \[payout_not_open\]: Payout \w+ is being paid by the operator and can no longer be cancelled\./);
  const processing = await runCli(['admin', 'payouts', '--state', 'processing'], { env: operatorEnv });
  assert.match(processing.stdout, new RegExp(`^${payoutId} +${owner.email} +0\\.90 EUR +processing `, 'm'));
  const paid = await runCli(['admin', 'payout-paid', payoutId, '--rail', 'paypal', '--reference', 'PAYID-42'], { env: operatorEnv });
  assert.equal(paid.stdout, `Paid payout ${payoutId}: 0.90 EUR to owner@paypal.example (paid).\n`);
  const again = await runCli(['admin', 'payout-paid', payoutId, '--rail', 'paypal', '--reference', 'PAYID-42'], { env: operatorEnv });
  assert.match(again.stderr, /^error \[payout_not_open\]: Payout \w+ is already paid\./);
  const cancel = await runCli(['payout', 'cancel', payoutId], { env: owner.env });
  assert.match(cancel.stderr, /^error \[payout_not_open\]/);
  const after = JSON.parse((await runCli(['earnings', '--json'], { env: owner.env })).stdout);
  assert.deepEqual([after.availableMicros, after.pendingPayoutMicros, after.paidOutMicros], [charged - fee - 900_000, 0, 900_000]);
  await fees(); // still balanced
});

test('a payout request sets the amount aside until it is cancelled; nobody else can cancel it', async () => {
  const { operatorEnv, running } = await testServer();
  const owner = await createOwner();
  const device = await createListedDevice({ owner, name: 'shed-pi', pricePerHourMicros: 600_000 });
  const renter = await createRenter();
  const rental = await renter.api.call('rent', { body: { deviceId: device.id } });
  await reportContainer(device, { rentalId: rental.id, state: 'ready' });
  for (let i = 0; i < 60; i++) {
    clock.advance(60_000);
    await meterTick(running.ctx);
  }
  const requested = await runCli(['payout', 'request', '0.50', '--to', 'IBAN DE00 1234'], { env: owner.env });
  assert.equal(requested.code, 0, requested.stderr);
  assert.match(requested.stdout, /^Requested payout (\w+): 0\.50 EUR to IBAN DE00 1234 \(requested\)\.$/m);
  const payoutId = /payout (\w+)/.exec(requested.stdout)![1]!;
  assert.match((await runCli(['earnings'], { env: owner.env })).stdout, /^Available 0\.04 EUR\nRequested 0\.50 EUR\n/);
  const stranger = await runCli(['payout', 'cancel', payoutId], { env: renter.env });
  assert.match(stranger.stderr, /^error \[not_found\]/);
  const list = await runCli(['payout', 'list'], { env: owner.env });
  assert.match(list.stdout, new RegExp(`^${payoutId} +0\\.50 EUR +requested +IBAN DE00 1234`, 'm'));
  const cancelled = await runCli(['payout', 'cancel', payoutId], { env: owner.env });
  assert.equal(cancelled.stdout, `Cancelled payout ${payoutId}: 0.50 EUR to IBAN DE00 1234 (cancelled).\n`);
  assert.match((await runCli(['earnings'], { env: owner.env })).stdout, /^Available 0\.54 EUR\nRequested 0\.00 EUR\n/);
  const noRail = await runCli(['admin', 'payout-paid', payoutId], { env: operatorEnv });
  assert.equal(noRail.code, 2);
  assert.match(noRail.stderr, /--rail paypal --reference ID/);
});
