import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ownerVisibility } from '@p2pvps/protocol/disclosure';
import { meterTick } from '@p2pvps/server/domain/rentals/meter-tick';
import { rootDiskCap } from '@p2pvps/agent/docker/root-disk';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import {
  createAgent,
  createServer,
  createSshKey,
  docker,
  openSsh,
  removeDeviceContainers,
  renterImage,
  tempDir,
  waitFor,
  type TestAgent,
  type TestServer,
} from './harness.ts';

/**
 * The dashboard as its users use it, in Debian's Chromium driven by playwright-core,
 * against a real server, a real agent and Docker: an owner signs up, adds a device and
 * enrols it with the token from the page, prices it and lists it; the operator grants a
 * renter credit; the renter rents it from the Marketplace, copies the SSH command from the
 * Rentals view and logs in with stock OpenSSH, then stops it; the owner sees the earnings.
 * Each view is saved as a screenshot: in docs/screenshots/ with P2PVPS_UPDATE_SCREENSHOTS=1,
 * else in a temporary directory, so a test run leaves the checkout as it was.
 */
const shots =
  process.env.P2PVPS_UPDATE_SCREENSHOTS === '1' ? join(import.meta.dirname, '..', 'docs', 'screenshots') : tempDir('screenshots');
const password = 'correct horse battery';
// The server's clock runs with the wall clock plus an offset the test moves, so minutes of
// renting pass at once; the agent's signed requests stay within the 5-minute skew allowed.
let offsetMs = 0;
const clock = { now: () => new Date(Date.now() + offsetMs) };

let server: TestServer;
let browser: Browser;
let agent: TestAgent | undefined;
let deviceId: string | undefined;
const contexts: BrowserContext[] = [];

before(async () => {
  mkdirSync(shots, { recursive: true });
  server = await createServer({ clock });
  browser = await chromium.launch({
    executablePath: process.env.P2PVPS_CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await agent?.stop();
  await removeDeviceContainers(deviceId);
  await server?.stop();
});

/** A fresh browser profile (its own cookies) on a page of the dashboard. */
async function newPage(width = 1100): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height: 900 }, baseURL: `http://127.0.0.1:${server.httpPort}` });
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  contexts.push(context);
  const page = await context.newPage();
  page.on('pageerror', (err) => assert.fail(`a script error on the page: ${err.message}`));
  return page;
}

async function signUp(page: Page, email: string): Promise<void> {
  await page.goto('/signup');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('heading', { name: 'Marketplace' }).waitFor();
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

test('owner enrols and lists a device, a renter rents it and logs in with OpenSSH, the owner sees the earnings', async () => {
  const owner = await newPage();
  await owner.goto('/login');
  await shot(owner, 'login');
  const wrong = owner.getByRole('button', { name: 'Log in' });
  await owner.getByLabel('Email').fill('nobody@example.org');
  await owner.getByLabel('Password').fill('not the password');
  await wrong.click();
  await owner.getByRole('alert').filter({ hasText: 'The email or password is wrong.' }).waitFor();

  // The owner signs up and adds a device; the token is on the page, once.
  await signUp(owner, 'owner@example.org');
  await owner.getByRole('link', { name: 'My devices' }).click();
  await owner.getByLabel('New device name').fill('attic-pi');
  await owner.getByRole('button', { name: 'Add device' }).click();
  const token = (await owner.locator('#enrolment-token').textContent())!;
  assert.match(token, /^p2pe_/);
  assert.match((await owner.locator('#enrol-commands').textContent())!, /^p2pvps agent init --server '.+' --token-file FILE\n/);
  // The install command carries the SHA-256 of the agent's code the server serves, and no token.
  const install = (await owner.locator('#install-command').textContent())!;
  const served = Buffer.from(await (await fetch(`http://127.0.0.1:${server.httpPort}/agent.tar.gz`)).arrayBuffer());
  assert.equal(
    install,
    `curl -fsSL http://127.0.0.1:${server.httpPort}/install.sh | sudo bash -s -- --sha256 ${createHash('sha256').update(served).digest('hex')}`,
  );
  await shot(owner, 'devices-enrol');

  // The device's agent enrols with it; the page shows the device online without a reload.
  agent = await createAgent(server, token);
  const card = owner.getByRole('listitem').filter({ has: owner.getByRole('heading', { name: /attic-pi/ }) });
  await card.getByText('online, not listed: set a price').waitFor({ timeout: 30_000 });
  deviceId = (await server.running.ctx.db.selectFrom('devices').select('id').where('name', '=', 'attic-pi').executeTakeFirstOrThrow()).id;
  await card.getByLabel('Price per hour (USD)').fill('0.6');
  await card.getByRole('button', { name: 'Save price' }).click();
  await card.getByText('online, not listed: off the market').waitFor();
  await card.getByLabel('On the market').click(); // checked once the server says so
  await card.getByText('online, in the marketplace').waitFor();
  // A device this young has no reliability score yet: it says "new", not 100 %.
  assert.equal(await card.locator('dt:has-text("Reliability") + dd').textContent(), 'new: too little history to score yet');
  await owner.getByRole('button', { name: 'Done' }).click();
  // What one rental gets: the default until the owner chooses; more than the device has is refused beside the box.
  await card.getByText(/One rental gets: 1 core, 512 MiB memory, 64 MiB disk, no bandwidth cap \(the default\)/).waitFor();
  await card.getByRole('button', { name: 'Change what a rental gets' }).click();
  const offerForm = card.getByRole('form', { name: 'What one rental gets' });
  await offerForm.getByLabel('Cores').fill('4096');
  await offerForm.getByRole('button', { name: 'Save what a rental gets' }).click();
  await offerForm.getByText(/^Cores must be at most \d+: the device has \d+ cores?$/).waitFor();
  await offerForm.getByLabel('Cores').fill('1');
  await offerForm.getByLabel('Memory (MiB)').fill('256');
  await offerForm.getByLabel('Disk (GiB)').fill('0.03125');
  await offerForm.getByLabel('Bandwidth (Mbit/s)').fill('20');
  await shot(owner, 'devices-offer');
  await offerForm.getByRole('button', { name: 'Save what a rental gets' }).click();
  await card.getByText('One rental gets: 1 core, 256 MiB memory, 32 MiB disk, 20 Mbit/s each way.').waitFor();

  // The owner declares a maintenance window from the card; what the server refuses is said there.
  const maintenance = card.getByRole('region', { name: 'Maintenance windows of attic-pi' });
  await maintenance.getByText('No maintenance window ahead.').waitFor();
  const declare = maintenance.getByRole('form', { name: 'Declare maintenance of attic-pi' });
  const utcBox = (ms: number) => new Date(clock.now().getTime() + ms).toISOString().slice(0, 16); // the box takes UTC
  await declare.getByLabel('Starts (UTC)').fill(utcBox(30 * 60_000));
  await declare.getByLabel('Hours').fill('9');
  await declare.getByRole('button', { name: 'Declare maintenance' }).click();
  await declare.getByText('Hours must be from 0.25 to 8, like 2 or 0.5').waitFor();
  await declare.getByLabel('Hours').fill('2');
  await declare.getByRole('button', { name: 'Declare maintenance' }).click();
  await maintenance
    .getByRole('alert')
    .filter({ hasText: 'This maintenance window is refused: it must be declared at least 1 h before it starts' })
    .waitFor();
  const start = utcBox(3 * 3_600_000);
  await declare.getByLabel('Starts (UTC)').fill(start);
  await declare.getByRole('button', { name: 'Declare maintenance' }).click();
  const ends = new Date(Date.parse(`${start}Z`) + 2 * 3_600_000).toISOString().slice(0, 16);
  const row = maintenance.getByRole('row').filter({ hasText: `${start.replace('T', ' ')} UTC` });
  await row.getByText(`${ends.replace('T', ' ')} UTC`).waitFor();
  assert.equal(await maintenance.getByRole('alert').count(), 0, 'the refusal is gone once a window is declared');
  await shot(owner, 'devices-maintenance');
  // A second one, cancelled again from its row.
  await declare.getByLabel('Starts (UTC)').fill(utcBox(6 * 3_600_000));
  await declare.getByLabel('Hours').fill('0.5');
  await declare.getByRole('button', { name: 'Declare maintenance' }).click();
  await maintenance.getByRole('row').nth(2).waitFor();
  await maintenance.getByRole('row').nth(2).getByRole('button', { name: 'Cancel window' }).click();
  await waitFor('the cancelled window to leave the list', async () => (await maintenance.getByRole('row').count()) === 2);
  assert.equal(await row.count(), 1, 'the first window stays');
  await shot(owner, 'devices');

  // A renter signs up, saves a key, and gets credit from the operator's page.
  const renter = await newPage();
  await signUp(renter, 'renter@example.org');
  const key = createSshKey();
  await renter.getByRole('link', { name: 'Account' }).click();
  await renter.getByLabel('Key name').fill('laptop');
  await renter.getByLabel('Public key').fill(key.publicKey);
  await renter.getByRole('button', { name: 'Save key' }).click();
  await renter.getByText(/laptop SHA256:/).waitFor();

  const operator = await newPage();
  await operator.goto('/login');
  await operator.getByLabel('Email').fill('admin@localhost');
  await operator.getByLabel('Password').fill(readFileSync(join(server.dataDir, 'operator-password'), 'utf8').trim());
  await operator.getByRole('button', { name: 'Log in' }).click();
  await operator.getByRole('link', { name: 'Operator' }).click();
  await operator.getByLabel("User's email").fill('renter@example.org');
  await operator.getByLabel('Amount (USD)').fill('20');
  await operator.getByLabel('Memo').fill('welcome');
  await operator.getByRole('button', { name: 'Grant credit' }).click();
  await operator.getByRole('status').filter({ hasText: 'renter@example.org now has 20.00 USD.' }).waitFor();
  // The operator's federation panel shows the server key's fingerprint, to give to peers' operators.
  const fingerprint = await operator.getByTestId('federation-fingerprint').textContent();
  assert.match(fingerprint ?? '', /^SHA256:[A-Za-z0-9+/]{43}$/);
  const published = (await (await fetch(`http://127.0.0.1:${server.httpPort}/.well-known/p2pvps-server`)).json()) as {
    key: { id: string };
  };
  assert.equal(fingerprint, published.key.id);

  // The renter rents from the Marketplace: the cost is said before confirming; keyboard only in the dialog.
  await renter.getByRole('link', { name: 'Marketplace' }).click();
  await renter.getByRole('heading', { name: 'attic-pi' }).waitFor();
  // The market shows the offer, not the device's memory and disk, and what / gets beside the disk as the engine caps it.
  const listing = renter.getByRole('listitem').filter({ has: renter.getByRole('heading', { name: 'attic-pi' }) });
  const system = (await rootDiskCap(docker, renterImage)) === null ? "not capped: shares the device's disk" : '2 GiB beside the disk';
  assert.deepEqual(
    await listing
      .locator('dd')
      .allTextContents()
      .then((t) => t.slice(1, 5)),
    ['256 MiB', '32 MiB', system, '20 Mbit/s each way'],
  );
  await shot(renter, 'market');
  // The listing shows the same, and its last 30 days on demand: a bar per day.
  assert.equal(await listing.locator('dt:has-text("Reliability") + dd').textContent(), 'new: too little history to score yet');
  await listing.getByText('Reliability history').click();
  const bars = listing.getByRole('list', { name: 'Score per day, last 30 days' });
  await bars.waitFor();
  assert.equal(await bars.getByRole('listitem').count(), 30);
  await renter.getByRole('button', { name: 'Rent attic-pi' }).click();
  const dialog = renter.getByRole('dialog', { name: 'Rent attic-pi' });
  await dialog.getByText('0.60 USD an hour, billed per minute while the device is up, until you stop it.').waitFor();
  await dialog
    .getByRole('region', { name: ownerVisibility.heading })
    .getByText(/given only a one-way hash of your rental's password/)
    .waitFor();
  const laptop = await dialog.locator('option', { hasText: 'laptop' }).getAttribute('value');
  await dialog.getByLabel('SSH key').selectOption(laptop!);
  await shot(renter, 'market-rent');
  await dialog.getByRole('button', { name: 'Confirm and rent' }).focus();
  await renter.keyboard.press('Enter');
  await renter.waitForURL(/\/rentals\/[a-z0-9]+$/);
  const rental = renter.getByRole('listitem').filter({ has: renter.getByRole('heading', { name: /attic-pi/ }) });
  await rental.getByText(/^up$/).waitFor({ timeout: 60_000 });
  await rental.getByText(/^1 core, 256 MiB memory, 32 MiB disk, 20 Mbit\/s each way \(/).waitFor();
  assert.equal(await rental.locator('dt:has-text("System (/)") + dd').textContent(), system);

  // The SSH command as copied from the page logs in with stock OpenSSH and the saved key.
  await rental.getByRole('button', { name: 'Copy SSH command' }).click();
  const command = await renter.evaluate(() => navigator.clipboard.readText());
  const m = /^ssh -p (\d+) (\w+)@([\w.-]+)$/.exec(command);
  assert.ok(m, `a usable ssh command, not "${command}"`);
  const login = { port: Number(m[1]), user: m[2]!, host: m[3]!, identity: key.privatePath };
  const ssh = await waitFor('ssh with the copied command', async () => {
    const result = await openSsh(login, 'echo hello from $(whoami)');
    return result.code === 0 ? result : undefined;
  });
  assert.equal(ssh.stdout.trim(), `hello from ${m[2]}`, ssh.stderr);
  assert.equal(await rental.getByText('••••••••••').count(), 1, 'the password is hidden until revealed');
  await rental.getByRole('button', { name: 'Reveal password' }).click();
  assert.match((await rental.locator('code').nth(1).textContent())!, /^\S{12,}$/);
  await shot(renter, 'rentals');

  // Three minutes of renting pass, then the renter stops it; the page asks first.
  offsetMs += 3 * 60_000;
  await meterTick(server.running.ctx);
  await rental.getByRole('button', { name: 'Stop rental' }).click();
  const confirm = renter.getByRole('dialog', { name: 'Stop the rental of attic-pi?' });
  await confirm.getByText('The container is destroyed and its storage wiped').waitFor();
  await shot(renter, 'rentals-stop');
  await confirm.getByRole('button', { name: 'Stop and wipe' }).click();
  await renter.getByText('You have no open rentals.').waitFor({ timeout: 60_000 });

  // 3 minutes at 0.60/h = 0.03 USD; the owner gets it less the 10% fee.
  await owner.reload();
  await card.getByText('online, in the marketplace').waitFor({ timeout: 60_000 });
  assert.equal(await card.locator('dt:has-text("Earned") + dd').textContent(), '0.027 USD');
  await renter.getByRole('link', { name: 'Account' }).click();
  await renter.locator('#balance').filter({ hasText: '19.97 USD' }).waitFor();
  await shot(renter, 'account');
  await operator.reload();
  await operator.getByText('(balanced)').waitFor();
  // No SMTP server here: the renter's mails wait in the outbox the operator reads.
  await operator.getByRole('region', { name: 'Mail' }).getByRole('cell', { name: 'renter@example.org' }).first().waitFor();
  await shot(operator, 'operator');

  // The renter rates the ended rental and reports a problem with it from its card.
  await renter.getByRole('link', { name: 'Rentals' }).click();
  await renter.getByLabel('Show ended rentals too').check();
  const ended = renter.getByRole('listitem').filter({ has: renter.getByRole('heading', { name: /attic-pi/ }) });
  const rate = ended.getByRole('form', { name: 'Rate attic-pi' });
  await rate.getByLabel('Your rating').selectOption('4');
  await rate.getByLabel('Comment (optional)').fill('Quick to start; SSH dropped once.');
  await rate.getByRole('button', { name: 'Rate this rental' }).click();
  await ended.getByText('Your rating:').waitFor();
  await ended.getByRole('button', { name: 'Report a problem' }).click();
  const report = ended.getByRole('form', { name: 'Report a problem with attic-pi' });
  await report.getByLabel('What went wrong').fill('SSH dropped for a minute.');
  await report.getByRole('button', { name: 'Send to the operator' }).click();
  await ended.getByText('Your dispute: open: the operator has not decided yet').waitFor();
  await shot(renter, 'rentals-feedback');

  // The operator sees it with the rental's facts and refunds one of the three minutes.
  await operator.reload();
  const disputes = operator.getByRole('region', { name: 'Disputes to decide' });
  const disputed = disputes.getByRole('listitem').filter({ hasText: 'SSH dropped for a minute.' });
  await disputed.getByText('0.03 USD for 3 min (fee 0.003 USD)').waitFor();
  await disputed.getByRole('cell', { name: 'container started' }).waitFor();
  await disputed.getByLabel(/^Refund/).fill('0.01');
  await disputed.getByLabel('Note to the renter').fill('One minute of three.');
  await shot(operator, 'operator-dispute');
  await disputed.getByRole('button', { name: 'Refund' }).click();
  await disputes.getByText('No dispute is open.').waitFor();
  await operator.getByText('(balanced)').waitFor();

  // The renter sees the refund on the balance and the outcome on the rental; the listing shows the rating.
  await renter.getByRole('link', { name: 'Account' }).click();
  await renter.locator('#balance').filter({ hasText: '19.98 USD' }).waitFor();
  await renter.getByRole('link', { name: 'Rentals' }).click();
  await renter.getByLabel('Show ended rentals too').check();
  await ended.getByText('Your dispute: refunded 0.01 USD to your balance · the operator’s note: One minute of three.').waitFor();
  await renter.getByRole('link', { name: 'Marketplace' }).click();
  const rated = renter.getByRole('listitem').filter({ has: renter.getByRole('heading', { name: 'attic-pi' }) });
  await rated.getByText('4.0 of 5 (1 rating)').waitFor();
  await rated.getByRole('button', { name: 'Read ratings' }).click();
  await rated.getByText('Quick to start; SSH dropped once.').waitFor();
  await rated.getByText('partly refunded').waitFor();
  await shot(renter, 'market-ratings');

  // The owner answers the rating from the device's card, once.
  await owner.reload();
  const ratings = card.getByRole('region', { name: 'Ratings of attic-pi' });
  await ratings.getByText('Quick to start; SSH dropped once.').waitFor();
  await ratings.getByLabel('Your answer (once)').fill('The router rebooted; it has a UPS now.');
  await ratings.getByRole('button', { name: 'Answer' }).click();
  await ratings.getByText('The router rebooted; it has a UPS now.').waitFor();
  assert.equal(await ratings.getByRole('button', { name: 'Answer' }).count(), 0, 'a rating is answered once');
  await shot(owner, 'devices-ratings');

  // A phone-width screen: one column, nothing wider than the screen.
  const phone = await newPage(390);
  await phone.goto('/login');
  await phone.getByLabel('Email').fill('renter@example.org');
  await phone.getByLabel('Password').fill(password);
  await phone.getByRole('button', { name: 'Log in' }).click();
  await phone.getByRole('link', { name: 'Rentals' }).click();
  await phone.getByLabel('Show ended rentals too').check();
  await phone.getByRole('heading', { name: /attic-pi/ }).waitFor();
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.equal(overflow, 0, 'the page fits a phone-width screen');
  await shot(phone, 'rentals-phone');
});

test('a change from another site is refused without the CSRF token, even with the session cookie', async () => {
  const page = await newPage();
  await signUp(page, 'csrf@example.org');
  const status = await page.evaluate(async () => {
    const res = await fetch('/api/v1/me/tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"sneaky"}',
    });
    return [res.status, (await res.json()).code];
  });
  assert.deepEqual(status, [403, 'csrf_failed']);
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'p2pvps_session');
  assert.ok(session?.httpOnly, 'the session cookie is HttpOnly');
  assert.equal(session?.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie), '', 'page scripts cannot read the session');
});
