import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createOwner, createRenter, runCli, testServer } from '../test-harness.ts';

test('settings: email rental passwords are off until the user turns them on', async () => {
  const renter = await createRenter();
  const shown = await runCli(['settings'], { env: renter.env });
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal(shown.stdout, 'Email rental passwords  off (the mail links to the rental instead)\n');
  const on = await runCli(['settings', '--email-rental-password', 'on'], { env: renter.env });
  assert.equal(on.stdout, 'Email rental passwords  on (the mail that says a rental is ready holds its password)\n');
  assert.equal((await runCli(['settings', '--json'], { env: renter.env })).stdout.trim(), '{\n  "emailRentalPassword": true\n}');
  const wrong = await runCli(['settings', '--email-rental-password', 'yes'], { env: renter.env });
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /--email-rental-password must be on or off, not "yes"/);
});

test('admin outbox: the operator reads the mail the server holds; others cannot', async () => {
  const { operatorEnv } = await testServer();
  const empty = await runCli(['admin', 'outbox', '--state', 'failed'], { env: operatorEnv });
  assert.equal(empty.code, 0, empty.stderr);
  assert.equal(empty.stdout, 'No SMTP server is configured (--smtp-url): mail stays here.\n\nNo mail.\n');
  const owner = await createOwner();
  const denied = await runCli(['admin', 'outbox'], { env: owner.env });
  assert.equal(denied.code, 1);
  const bad = await runCli(['admin', 'outbox', '--limit', '0'], { env: operatorEnv });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--limit must be a whole number from 1 to 1000/);
});
