import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import { agentProtocol } from '@p2pvps/protocol/version';
import {
  bringOnline,
  clock,
  createDevice,
  createListedDevice,
  createOwner,
  createRenter,
  createRental,
  enrolDevice,
  PI4,
  runCli,
  takeOffline,
  testServer,
} from '../test-harness.ts';

test('devices price resolves a name and sets the price, shown in the server currency', async () => {
  const owner = await createOwner();
  const device = await createDevice({ owner, name: 'kitchen-pi' });
  const result = await runCli(['devices', 'price', 'kitchen-pi', '0.07'], { env: owner.env });
  assert.equal(result.stderr, '');
  assert.equal(result.code, 0);
  assert.equal(
    result.stdout,
    `kitchen-pi now costs 0.07 EUR per hour.\nIt is off the market; put it on with 'p2pvps devices market ${device.id} on'.\n`,
  );
  const saved = await owner.api.call('getDevice', { params: { deviceId: device.id } });
  assert.equal(saved.pricePerHourMicros, 70_000, 'sent as integer micros, no float rounding');
});

test('devices price rejects a seventh decimal before calling the server', async () => {
  const result = await runCli(['devices', 'price', 'kitchen-pi', '0.0000001'], {
    env: { P2PVPS_TOKEN: 'any' },
    offline: true,
  });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^error \[usage\]: PRICE "0.0000001" has more than 6 decimals/);
});

test('devices add prints the token, a device-config.json with the server public URL, and the commands for the device', async () => {
  const { publicUrl, api } = await testServer();
  const owner = await createOwner();
  const result = await runCli(['devices', 'add', 'attic-pi', '--description', 'Pi 5'], { env: owner.env });
  assert.equal(result.code, 0, result.stderr);
  const [, deviceId = ''] = /^Added device attic-pi \(ID ([a-z0-9]+)\)\.\n/.exec(result.stdout) ?? [];
  const [, token = ''] = /^ {2}(\S+)$/m.exec(result.stdout) ?? [];
  assert.match(result.stdout, /valid until 2026-03-03 12:00:00 UTC \(in 24h\)\):\n/);
  const json = /device-config.json for the device \(the agent reads \/etc\/p2pvps\/device-config.json\):\n(\{[\s\S]*?\n\})/.exec(
    result.stdout,
  )?.[1];
  assert.deepEqual(JSON.parse(json ?? 'null'), {
    serverUrl: publicUrl,
    enrolmentToken: token,
    dataDir: '/var/lib/p2pvps-agent',
  });
  // The installer's command carries the SHA-256 of the very tarball the server serves; no token in argv.
  const [, sha = ''] = /^ {2}curl -fsSL (?:\S+)\/install\.sh \| sudo bash -s -- --sha256 ([0-9a-f]{64})$/m.exec(result.stdout) ?? [];
  const served = await fetch(`${(await testServer()).url}/agent.tar.gz`);
  assert.equal(
    createHash('sha256')
      .update(Buffer.from(await served.arrayBuffer()))
      .digest('hex'),
    sha,
    result.stdout,
  );
  assert.match(result.stdout, new RegExp(`^ {2}curl -fsSL ${publicUrl}/install.sh \\|`, 'm'));
  assert.match(result.stdout, new RegExp(`^ {2}p2pvps agent init --server ${publicUrl} --token-file FILE\n {2}p2pvps agent\n`, 'm'));
  assert.doesNotMatch(result.stdout, /--token /, 'the token never goes into a command line');
  const added = await owner.api.call('getDevice', { params: { deviceId } });
  assert.equal(added.description, 'Pi 5');
  assert.equal(added.status, 'awaiting_enrolment');

  // The printed token is the one the device enrols with.
  const registration = await api.call('agentRegister', {
    body: { enrolmentToken: token, publicKey: generateEd25519KeyPair('pi').public, hardware: PI4, agentVersion: 'test' },
  });
  assert.equal(registration.deviceId, deviceId);
});

test('devices list shows a table a person can read', async () => {
  const owner = await createOwner();
  const kitchen = await enrolDevice(await createDevice({ owner, name: 'kitchen-pi' }));
  clock.advance(60_000);
  const attic = await enrolDevice(await createDevice({ owner, name: 'attic' }));
  clock.advance(60_000);
  const cellar = await createDevice({ owner, name: 'cellar' });
  await owner.api.call('updateDevice', { params: { deviceId: kitchen.id }, body: { pricePerHourMicros: 50_000, onMarket: true } });
  await owner.api.call('updateDevice', { params: { deviceId: attic.id }, body: { pricePerHourMicros: 1_234_567, onMarket: true } });
  await bringOnline(kitchen);
  await bringOnline(attic);
  await takeOffline(attic);
  clock.advance(3 * 60_000);

  const result = await runCli(['devices', 'list'], { env: owner.env });
  assert.equal(result.code, 0, result.stderr);
  const port = async (d: { id: string }) => (await owner.api.call('getDevice', { params: { deviceId: d.id } })).sshPort;
  const hardware = 'arm64, 4 cores, 4.0 GiB RAM, 32.0 GiB disk';
  // The default offer: what one rental gets until the owner chooses.
  const offer = '1 core, 512.0 MiB RAM, 32.0 GiB disk';
  assert.equal(
    result.stdout,
    [
      'ID                NAME        STATUS              MARKET       PRICE/H   PORT  HARDWARE                                    RENTAL GETS                           VERIFIED  LAST SEEN',
      `${kitchen.id}  kitchen-pi  online              listed      0.05 EUR  ${await port(kitchen)}  ${hardware}  ${offer}  not yet   now`,
      `${attic.id}  attic       offline             on      1.234567 EUR  ${await port(attic)}  ${hardware}  ${offer}  not yet   3m ago`,
      `${cellar.id}  cellar      awaiting_enrolment  off                -      -  -                                           -                                     not yet   -`,
      '',
    ].join('\n'),
  );
});

test('devices market says why a device on the market is not listed', async () => {
  const owner = await createOwner();
  const device = await createDevice({ owner, name: 'shed-pi' });
  const unpriced = await runCli(['devices', 'market', 'shed-pi', 'on'], { env: owner.env });
  assert.equal(unpriced.code, 0, unpriced.stderr);
  assert.equal(unpriced.stdout, 'shed-pi is on the market but not listed yet: it has no price yet (p2pvps devices price DEVICE PRICE).\n');
  await runCli(['devices', 'price', device.id, '0.02'], { env: owner.env });
  const waiting = await runCli(['devices', 'market', device.id, 'on'], { env: owner.env });
  assert.equal(waiting.stdout, 'shed-pi is on the market but not listed yet: its agent has not enrolled yet.\n');
  const enrolled = await enrolDevice(device);
  const offline = await runCli(['devices', 'market', device.id, 'on'], { env: owner.env });
  assert.equal(offline.stdout, 'shed-pi is on the market but not listed yet: it is offline.\n');
  await bringOnline(enrolled);
  const listed = await runCli(['devices', 'market', device.id, 'on'], { env: owner.env });
  assert.equal(listed.stdout, 'shed-pi is on the market.\n');
  await createRental({ renter: await createRenter(), device });
  const rented = await runCli(['devices', 'market', device.id, 'on'], { env: owner.env });
  assert.equal(rented.stdout, 'shed-pi is on the market but not listed yet: it is rented right now.\n');
  const off = await runCli(['devices', 'market', device.id, 'off'], { env: owner.env });
  assert.equal(off.stdout, 'shed-pi is off the market; open rentals keep running.\n');
});

test('devices remove removes the device and its port; its agent can no longer connect', async () => {
  const owner = await createOwner();
  const device = await createListedDevice({ owner, name: 'old-pi' });
  const result = await runCli(['devices', 'remove', 'old-pi'], { env: owner.env });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, `Removed old-pi (ID ${device.id}); its agent can no longer connect.\n`);
  const list = await runCli(['devices', 'list'], { env: owner.env });
  assert.equal(list.stdout, "You have no devices yet; add one with 'p2pvps devices add NAME'.\n");
  const market = await runCli(['market']);
  assert.doesNotMatch(market.stdout, new RegExp(device.id));
});

test('a device name shared by two devices is ambiguous; an unknown one is not found', async () => {
  const owner = await createOwner();
  const one = await createDevice({ owner, name: 'pi' });
  const two = await createDevice({ owner, name: 'pi' });
  const ambiguous = await runCli(['devices', 'price', 'pi', '0.01'], { env: owner.env });
  assert.equal(ambiguous.code, 1);
  assert.equal(
    ambiguous.stderr,
    `error [ambiguous_device]: More than one of your devices is named "pi"; use its ID: ${one.id}, ${two.id}.\n`,
  );
  // Another owner's device is invisible.
  const stranger = await createOwner();
  const missing = await runCli(['devices', 'remove', one.id], { env: stranger.env });
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, `error [not_found]: You have no device with the ID or name "${one.id}"; see 'p2pvps devices list'.\n`);
});

test('--json prints the API reply unchanged', async () => {
  const owner = await createOwner();
  await createDevice({ owner, name: 'json-pi' });
  const result = await runCli(['devices', 'list', '--json'], { env: owner.env });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), await owner.api.call('listDevices'));
});

test('an API error prints its code, message and field problems, and exits 1', async () => {
  const owner = await createOwner();
  const result = await runCli(['devices', 'add', ' '], { env: owner.env });
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    'error [invalid_request]: The request is not valid; see "fields" for what to fix.\n  body.name: must not be empty\n',
  );
  assert.deepEqual(await owner.api.call('listDevices'), { devices: [] }, 'nothing was added');
});

test('owner commands say how to log in when there is no token', async () => {
  const { url } = await testServer();
  const result = await runCli(['devices', 'list']);
  assert.equal(result.code, 1);
  assert.equal(result.stderr, `error [unauthenticated]: You are not logged in to ${url}; run 'p2pvps login' (or set P2PVPS_TOKEN).\n`);
});

test('a device whose agent reports a storage fault says so in the list and when put on the market', async () => {
  const device = await createListedDevice({ name: 'faulty-pi' });
  await device.deviceApi.call('agentHeartbeat', {
    body: { container: null, storageFault: 'the wipe of /dev/sda failed: device busy', agentProtocol },
  });
  const list = await runCli(['devices', 'list'], { env: device.owner.env });
  assert.match(list.stdout, /faulty-pi .*storage fault/);
  const on = await runCli(['devices', 'market', 'faulty-pi', 'on'], { env: device.owner.env });
  assert.equal(
    on.stdout,
    'faulty-pi is on the market but not listed yet: its renter storage needs attention: the wipe of /dev/sda failed: device busy.\n',
  );
});
