import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRenter, runCli, testServer } from '../test-harness.ts';

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
