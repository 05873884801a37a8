import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import {
  containerNetwork,
  createAgent,
  createServer,
  createUser,
  removeDeviceContainers,
  runCommand,
  tempDir,
  waitFor,
  type TestAgent,
  type TestServer,
} from './harness.ts';

/**
 * Deployment packages and encrypted storage on the dashboard, in Debian's Chromium: the owner
 * refuses a package on their device from its card, the renter's market filter then leaves the
 * device out for it, and the rent dialog offers only what the owner allows; the renter rents
 * with a package, its settings and encrypted storage, and the rental's card shows the package
 * healthy with its address, which answers through the front door. Screenshots go to
 * docs/screenshots/ with P2PVPS_UPDATE_SCREENSHOTS=1, else to a temporary directory.
 */
const shots =
  process.env.P2PVPS_UPDATE_SCREENSHOTS === '1' ? join(import.meta.dirname, '..', 'docs', 'screenshots') : tempDir('screenshots');
const webDomain = 'vps.test';
let server: TestServer;
let browser: Browser;
let agent: TestAgent | undefined;
let deviceId: string | undefined;

before(async () => {
  assert.equal(
    containerNetwork,
    'bridge',
    'run this with "scripts/test e2e/dashboard-packages.test.ts" (packages install as root in the container: the tests\' engine)',
  );
  mkdirSync(shots, { recursive: true });
  server = await createServer({ env: { P2PVPS_WEB_DOMAIN: webDomain } });
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
  await browser?.close();
  await agent?.stop();
  await removeDeviceContainers(deviceId);
  await server?.stop();
});

async function logIn(email: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, baseURL: `http://127.0.0.1:${server.httpPort}` });
  const page = await context.newPage();
  page.on('pageerror', (err) => assert.fail(`a script error on the page: ${err.message}`));
  await page.goto('/login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Marketplace' }).waitFor();
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

test('an owner refuses a package on the device card; the renter filters the market by package and rents with a package, its settings and encrypted storage', async () => {
  const owner = await createUser(server, 'owner');
  const renter = await createUser(server, 'renter');
  const grant = await owner.api.call('addDevice', { body: { name: 'shelf-pi' } });
  deviceId = grant.device.id;
  const id = deviceId;
  agent = await createAgent(server, grant.enrolmentToken, { storage: { kind: 'image', sizeMiB: 256 } });
  await waitFor('the device online', async () => (await owner.api.call('getDevice', { params: { deviceId: id } })).online);
  await owner.api.call('updateDevice', { params: { deviceId: id }, body: { pricePerHourMicros: 10_000, onMarket: true } });

  // The owner unticks tor-onion on the device's card and saves.
  const ownerPage = await logIn(owner.email);
  await ownerPage.getByRole('link', { name: 'My devices' }).click();
  const packages = ownerPage.getByRole('form', { name: 'Packages allowed on shelf-pi' });
  await packages.getByText('Every package is allowed now.').waitFor();
  const save = packages.getByRole('button', { name: 'Save packages' });
  assert.equal(await save.isDisabled(), true, 'nothing to save before a change');
  await packages.getByLabel('tor-onion').uncheck();
  await save.click();
  await packages.getByText('Refused now: tor-onion. The market leaves this device out for them.').waitFor();
  assert.equal(await packages.getByLabel('tor-onion').isChecked(), false);
  assert.equal(await packages.getByLabel('wiki').isChecked(), true);
  assert.deepEqual((await owner.api.call('getDevice', { params: { deviceId: id } })).refusedPackages, ['tor-onion']);
  await shot(ownerPage, 'devices-packages');

  // The renter's market: filtered by tor-onion the device is gone, by wiki it is there.
  const renterPage = await logIn(renter.email);
  const listing = renterPage.getByRole('list', { name: 'Devices for rent' }).getByRole('heading', { name: 'shelf-pi' });
  await listing.waitFor();
  await renterPage.getByLabel('Runs package').selectOption('tor-onion');
  await renterPage.getByText('No device is on the market right now that matches these filters.').waitFor();
  await renterPage.getByLabel('Runs package').selectOption('wiki');
  await listing.waitFor();

  // The rent dialog offers what the owner allows, with the package's settings, and encryption.
  await renterPage.getByRole('button', { name: 'Rent shelf-pi' }).click();
  const dialog = renterPage.getByRole('dialog', { name: 'Rent shelf-pi' });
  const offered = await dialog.getByLabel('Deployment package').locator('option').allTextContents();
  assert.ok(
    offered.some((o) => o.startsWith('wiki:')),
    offered.join('|'),
  );
  assert.ok(!offered.some((o) => o.startsWith('tor-onion:')), 'a refused package is not offered');
  await dialog.getByLabel('Deployment package').selectOption('wiki');
  const title = dialog.getByLabel(/^WIKI_TITLE: /);
  assert.equal(await title.inputValue(), 'My wiki', 'a setting starts at its default');
  await title.fill('Shelf notes');
  await dialog.getByLabel('Encrypt my storage with a secret only I hold').check();
  await dialog.getByLabel('Storage secret').fill('a renter secret, long enough');
  await shot(renterPage, 'rent-dialog-package');
  await dialog.getByRole('button', { name: 'Confirm and rent' }).click();

  // The rental's card: the package installs, then is healthy with its address; encrypted.
  await renterPage.getByText(/wiki: (installing|starting|healthy)/).waitFor({ timeout: 30_000 });
  const healthy = renterPage.getByText('wiki: healthy');
  await healthy.waitFor({ timeout: 300_000 });
  await renterPage.getByText('Encrypted with your secret').waitFor();
  const rental = (await renter.api.call('listRentals', { query: {} })).rentals.find((r) => r.deviceId === id)!;
  assert.equal(rental.encrypted, true);
  assert.equal(rental.app?.settings.WIKI_TITLE, 'Shelf notes');
  const address = rental.app!.addresses[0]!;
  await renterPage.locator('code', { hasText: address }).waitFor();
  await shot(renterPage, 'rental-package-healthy');
  const page = await runCommand('curl', [
    '-sS',
    '--max-time',
    '10',
    '--resolve',
    `${rental.connection.webHost}:${server.httpPort}:127.0.0.1`,
    `http://${rental.connection.webHost}:${server.httpPort}/doku.php?id=start`,
  ]);
  assert.match(page.stdout, /Shelf notes/, 'the wiki answers on the web name with the title the renter set');
  await renter.api.call('stopRental', { params: { rentalId: rental.id } });

  // The owner allows every package again.
  await packages.getByLabel('tor-onion').check();
  await save.click();
  await packages.getByText('Every package is allowed now.').waitFor();
  assert.deepEqual((await owner.api.call('getDevice', { params: { deviceId: id } })).refusedPackages ?? [], []);
});
