import assert from 'node:assert/strict';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ownerVisibilityText } from '@p2pvps/protocol/disclosure';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import {
  clock,
  createListedDevice,
  createRenter,
  createRental,
  reportContainer,
  runCli,
  tempDir,
  type EnrolledDevice,
  type TestUser,
} from '../test-harness.ts';

async function keyPair(withPublic = true): Promise<{ privateKey: string; publicKey: string }> {
  const pair = generateEd25519KeyPair('me@laptop');
  const privateKey = join(await tempDir(), 'id_ed25519');
  await writeFile(privateKey, pair.private, { mode: 0o600 });
  if (withPublic) await writeFile(`${privateKey}.pub`, `${pair.public}\n`);
  return { privateKey, publicKey: pair.public };
}

/** The renter's open rental on the device, as the API lists it. */
async function openRentalOn(renter: TestUser, device: EnrolledDevice) {
  const { rentals } = await renter.api.call('listRentals', { query: {} });
  return rentals.find((r) => r.deviceId === device.id);
}

test('rent with a private key path sends its .pub and prints how to connect', async () => {
  const device = await createListedDevice({ name: 'garage-pi' });
  const renter = await createRenter();
  const key = await keyPair();
  const result = await runCli(['rent', device.id, '--ssh-key', key.privateKey, '--hours', '3', '--no-wait'], {
    env: renter.env,
  });
  assert.equal(result.code, 0, result.stderr);
  const rental = await openRentalOn(renter, device);
  assert.ok(rental);
  const { username, password, port, httpUrl, httpsUrl } = rental.connection;
  assert.equal(
    result.stdout,
    [
      `Rental     ${rental.id}`,
      'State      requested',
      `Device     garage-pi (${device.id})`,
      // What the container gets (the default offer on this 4-core, 4 GiB device), not the device.
      'Resources  arm64, 1 core, 512.0 MiB RAM, 32.0 GiB disk',
      `SSH        ssh -p ${port} ${username}@127.0.0.1`,
      `Password   ${password}`,
      `Web        ${httpUrl}  ${httpsUrl}  (ports 80 and 443 of the container)`,
      'Expires    3h after your container starts',
      'Price      0.05 EUR/h, 3 h prepaid: 0.15 EUR held, unused time returned if the device is lost',
      'Cost       0.00 EUR so far',
      "Renew      off ('p2pvps extend RENTAL --auto-renew on')",
      '',
      `The device is starting your container; 'p2pvps ssh ${rental.id}' waits for it.`,
      '',
    ].join('\n'),
  );
  // Once, on stderr: what the device's owner can and cannot see.
  assert.equal(result.stderr, `${ownerVisibilityText()}\n`);
  assert.match(result.stderr, /^What the owner of the device can and cannot see:$/m);
  assert.match(result.stderr, /power the device off, read the files your rental stores on their hardware/);
  assert.match(
    result.stderr,
    /given only a one-way hash of your rental's password, never the password itself; but an owner with root on it can enter your container/,
  );
  assert.match(result.stderr, /cannot read your SSH sessions or HTTPS traffic on the way/);
  assert.match(result.stderr, /wiped when the rental ends/);
  // What the device is told to install: the public half, never the private key.
  const desired = await reportContainer(device, null);
  assert.equal(desired.rental?.authorizedKey, key.publicKey);
  assert.equal(rental.connection.sshKeyGiven, true);
});

test('rent refuses a private key without its public half', async () => {
  const { privateKey } = await keyPair(false);
  const result = await runCli(['rent', 'devabcdef', '--ssh-key', privateKey], { env: { P2PVPS_TOKEN: 't' }, offline: true });
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    `error [ssh_key_private]: ${privateKey} is a private key and ${privateKey}.pub does not exist; give the public key file.\n`,
  );
});

test('rent --wait waits until the device reports the container running', async () => {
  const device = await createListedDevice({ name: 'garage-pi' });
  const renter = await createRenter();
  let reports = 0;
  const result = await runCli(['rent', device.id, '--wait', '--hours', '2'], {
    env: renter.env,
    // The device takes three polls to start the container.
    whileWaiting: async () => {
      if (++reports !== 3) return;
      const rental = await openRentalOn(renter, device);
      await reportContainer(device, { rentalId: rental!.id, state: 'ready' });
    },
  });
  assert.equal(result.code, 0, result.stderr);
  const rental = await openRentalOn(renter, device);
  assert.equal(
    result.stderr,
    `${ownerVisibilityText()}\nRented garage-pi: rental ${rental?.id}.\nWaiting for garage-pi to start your container… 0s\n`,
  );
  assert.match(result.stdout, /^State +active$/m);
  assert.match(result.stdout, /^Expires +2026-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in 2h\)$/m);
  assert.ok(result.stdout.endsWith(`\nConnect with 'p2pvps ssh ${rental?.id}'.\n`), result.stdout);
});

test('rent --wait gives up after --timeout and says the rental stays open', async () => {
  const device = await createListedDevice({ name: 'slow-pi' });
  const renter = await createRenter();
  const result = await runCli(['rent', device.id, '--wait', '--timeout', '5'], { env: renter.env });
  assert.equal(result.code, 1);
  const rental = await openRentalOn(renter, device);
  assert.equal(rental?.state, 'requested');
  assert.equal(
    result.stderr,
    [
      ownerVisibilityText(),
      `Rented slow-pi: rental ${rental?.id}.`,
      'Waiting for slow-pi to start your container… 0s',
      `error [wait_timeout]: Rental ${rental?.id} is still starting after 5s. It stays open: check it with 'p2pvps rentals' or stop it with 'p2pvps stop ${rental?.id}'.`,
      '',
    ].join('\n'),
  );
  assert.equal(result.stdout, '');
});

test('rent --wait fails clearly when the device cannot start the container', async () => {
  const device = await createListedDevice({ name: 'broken-pi' });
  const renter = await createRenter();
  const result = await runCli(['rent', device.id, '--wait'], {
    env: renter.env,
    whileWaiting: async () => {
      const rental = await openRentalOn(renter, device);
      if (rental?.state === 'requested') {
        await reportContainer(device, { rentalId: rental.id, state: 'failed', detail: 'image missing' });
      }
    },
  });
  assert.equal(result.code, 1);
  const { rentals } = await renter.api.call('listRentals', { query: { all: 'true' } });
  assert.match(
    result.stderr,
    new RegExp(
      `^error \\[rental_ended\\]: Rental ${rentals[0]?.id} ended before it became active \\(provisioning_failed: image missing\\)\\.$`,
      'm',
    ),
  );
});

test('rent finds a listed device by name, and says when a name is ambiguous or unknown', async () => {
  const garage = await createListedDevice({ name: 'Garage Pi' });
  await createListedDevice({ name: 'Other' });
  const renter = await createRenter();
  const result = await runCli(['rent', 'Garage Pi', '--no-wait', '--json'], { env: renter.env });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(JSON.parse(result.stdout).deviceId, garage.id);
  // The JSON stays clean; the statement about the owner goes to stderr.
  assert.equal(result.stderr, `${ownerVisibilityText()}\n`);

  const twin = await createListedDevice({ name: 'Other' });
  const ambiguous = await runCli(['rent', 'Other', '--no-wait'], { env: renter.env });
  assert.equal(ambiguous.code, 1);
  assert.match(ambiguous.stderr, /^error \[ambiguous_device\]: More than one listed device is named "Other"; use its ID: /);
  assert.match(ambiguous.stderr, new RegExp(twin.id));
  const unknown = await runCli(['rent', 'Garage Pi', '--no-wait'], { env: renter.env });
  assert.equal(
    unknown.stderr,
    `error [not_found]: No listed device has the ID or name "Garage Pi"; see 'p2pvps market'.\n`,
    'rented, so no longer listed',
  );
});

test('renting an unlisted device shows the server error', async () => {
  const device = await createListedDevice({ name: 'taken' });
  await createRental({ renter: await createRenter(), device });
  const result = await runCli(['rent', device.id, '--no-wait'], { env: (await createRenter()).env });
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    'error [device_not_listed]: This device is not on the market right now: it is offline, rented, unpriced or withdrawn by its owner.\n',
  );
});

test('rentals shows open rentals; --all adds ended ones, without connection details', async () => {
  const renter = await createRenter();
  const none = await runCli(['rentals', '--all'], { env: renter.env });
  assert.equal(none.stdout, "You have never rented a device; see 'p2pvps market'.\n");

  // An hour ago: a rental that ran and was stopped; the device has wiped it.
  const shed = await createListedDevice({ name: 'shed-pi' });
  const old = await createRental({ renter, device: shed });
  await reportContainer(shed, { rentalId: old.id, state: 'ready' });
  await renter.api.call('stopRental', { params: { rentalId: old.id } });
  await reportContainer(shed, null);
  clock.advance(30 * 60_000);
  // Half an hour ago: a three-hour rental that is running now.
  const garage = await createListedDevice({ name: 'garage-pi' });
  const running = await createRental({ renter, device: garage, hours: 3 });
  await reportContainer(garage, { rentalId: running.id, state: 'ready' });
  clock.advance(30 * 60_000);
  const { port, username } = running.connection;
  const gets = '1 core, 512.0 MiB RAM, 32.0 GiB disk';

  const open = await runCli(['rentals'], { env: renter.env });
  assert.equal(open.code, 0, open.stderr);
  assert.equal(
    open.stdout,
    [
      'ID                DEVICE     RESOURCES                             STATE   CREATED  EXPIRES    COST      SSH',
      `${running.id}  garage-pi  ${gets}  active  30m ago  in 2h 30m  0.00 EUR  ssh -p ${port} ${username}@127.0.0.1`,
      '',
    ].join('\n'),
  );
  const all = await runCli(['rentals', '--all'], { env: renter.env });
  assert.equal(all.code, 0, all.stderr);
  assert.equal(
    all.stdout,
    [
      'ID                DEVICE     RESOURCES                             STATE                   CREATED  EXPIRES    COST      SSH',
      `${running.id}  garage-pi  ${gets}  active                  30m ago  in 2h 30m  0.00 EUR  ssh -p ${port} ${username}@127.0.0.1`,
      `${old.id}  shed-pi    ${gets}  ended (renter_stopped)  1h ago   -          0.00 EUR  -`,
      '',
    ].join('\n'),
  );
  await renter.api.call('stopRental', { params: { rentalId: running.id } });
  await reportContainer(garage, null);
  const after = await runCli(['rentals'], { env: renter.env });
  assert.equal(after.stdout, "You have no open rentals; 'p2pvps rentals --all' shows past ones.\n");
});

test('stop ends the rental, forgets its host key, and cannot stop it twice', async () => {
  const device = await createListedDevice({ name: 'garage-pi' });
  const renter = await createRenter();
  const rental = await createRental({ renter, device });
  const config = join(await tempDir(), 'cli.json');
  const knownHosts = join(config, '..', 'known_hosts.d', rental.id);
  await mkdir(join(knownHosts, '..'), { recursive: true });
  await writeFile(knownHosts, '[127.0.0.1]:2201 ssh-ed25519 AAAA\n');
  const env = { ...renter.env, P2PVPS_CLI_CONFIG: config };

  const stranger = await runCli(['stop', rental.id], { env: (await createRenter()).env });
  assert.equal(stranger.code, 1);
  assert.equal(stranger.stderr, 'error [not_found]: There is nothing here, or you may not see it.\n');

  const result = await runCli(['stop', rental.id], { env });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, `Stopped rental ${rental.id} on garage-pi (ending); its container is destroyed and wiped.\n`);
  await assert.rejects(access(knownHosts), { code: 'ENOENT' });
  const again = await runCli(['stop', rental.id], { env });
  assert.equal(again.code, 1);
  assert.equal(again.stderr, 'error [rental_not_open]: The rental has already ended.\n');
});

test('rent --package NAME --set KEY=VALUE sends the package; the rental shows it pending; bad --set is a usage error', async () => {
  const device = await createListedDevice({ name: 'apps-pi' });
  const renter = await createRenter();
  const result = await runCli(['rent', device.id, '--package', 'wiki', '--set', 'WIKI_TITLE=Our notes', '--no-wait', '--json'], {
    env: renter.env,
  });
  assert.equal(result.code, 0, result.stderr);
  const rental = JSON.parse(result.stdout);
  assert.deepEqual(rental.app, { name: 'wiki', settings: { WIKI_TITLE: 'Our notes' }, state: 'pending', log: '', addresses: [] });
  const shown = await runCli(['rental', rental.id], { env: renter.env });
  assert.match(shown.stdout, /Package +wiki: pending/);
  const bad = await runCli(['rent', device.id, '--package', 'wiki', '--set', 'WIKI_TITLE'], { env: renter.env, offline: true });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--set takes KEY=VALUE/);
  const orphan = await runCli(['rent', device.id, '--set', 'A=1'], { env: renter.env, offline: true });
  assert.match(orphan.stderr, /--set needs --package NAME/);
});
