import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDevice, createListedDevice, createOwner, createRenter, runCli } from '../test-harness.ts';

// The test devices are PI4s: 4 cores, 4 GiB memory, 32 GiB of renter storage.

test('devices offer shows the default until the owner chooses, beside the device hardware', async () => {
  const owner = await createOwner();
  await createListedDevice({ owner, name: 'kitchen-pi' });
  const shown = await runCli(['devices', 'offer', 'kitchen-pi'], { env: owner.env });
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal(
    shown.stdout,
    'kitchen-pi: one rental gets 1 core, 512.0 MiB memory, 32.0 GiB disk, no bandwidth cap (the default).\n' +
      'Device hardware: arm64, 4 cores, 4.0 GiB RAM, 32.0 GiB disk.\n',
  );
});

test('an offer the owner chooses is what the market, rent and rentals show, never the device totals', async () => {
  const owner = await createOwner();
  const device = await createListedDevice({ owner, name: 'attic-pi' });
  const set = await runCli(['devices', 'offer', 'attic-pi', '--cores', '2', '--memory', '1G', '--disk', '4G', '--bandwidth', '20Mbit'], {
    env: owner.env,
  });
  assert.equal(set.code, 0, set.stderr);
  assert.equal(set.stdout.split('\n')[0], 'attic-pi: one rental gets 2 cores, 1.0 GiB memory, 4.0 GiB disk, 20 Mbit/s each way.');

  const market = await runCli(['market']);
  const row = market.stdout.split('\n').find((l) => l.startsWith(device.id)) ?? '';
  assert.match(row, /\s2\s+1\.0 GiB\s+4\.0 GiB\s+20 Mbit\/s\s+not yet\s+arm64\s/, row);

  const renter = await createRenter();
  const rented = await runCli(['rent', device.id, '--no-wait'], { env: renter.env });
  assert.equal(rented.code, 0, rented.stderr);
  assert.match(rented.stdout, /^Resources +arm64, 2 cores, 1\.0 GiB RAM, 4\.0 GiB disk, 20 Mbit\/s each way$/m);
  assert.doesNotMatch(rented.stdout, /4 cores|32\.0 GiB/, "the device's totals are nowhere");
  const rentals = await runCli(['rentals'], { env: renter.env });
  assert.match(rentals.stdout, /\s2 cores, 1\.0 GiB RAM, 4\.0 GiB disk, 20 Mbit\/s\s+requested\s/);

  // A new offer is for the next rental; the running one keeps what it was rented with.
  const changed = await runCli(['devices', 'offer', 'attic-pi', '--cores', '1', '--bandwidth', 'none'], { env: owner.env });
  assert.match(changed.stdout, /one rental gets 1 core, 1\.0 GiB memory, 4\.0 GiB disk, no bandwidth cap\.\n/);
  assert.match(changed.stdout, /The running rental keeps what it was rented with; the next one gets this\.\n$/);
  assert.match((await runCli(['rentals'], { env: renter.env })).stdout, /2 cores, 1\.0 GiB RAM/);

  const reset = await runCli(['devices', 'offer', 'attic-pi', '--default'], { env: owner.env });
  assert.match(reset.stdout, /one rental gets 1 core, 512\.0 MiB memory, 32\.0 GiB disk, no bandwidth cap \(the default\)\./);
});

test('an offer beyond the device is refused, naming the options and the limits', async () => {
  const owner = await createOwner();
  await createListedDevice({ owner, name: 'shed-pi' });
  const result = await runCli(['devices', 'offer', 'shed-pi', '--cores', '5', '--memory', '4G', '--disk', '33G'], { env: owner.env });
  assert.equal(result.code, 1);
  assert.equal(result.stdout, '');
  assert.equal(
    result.stderr,
    'error [invalid_request]: A rental cannot get more than the device has; see "fields" for the limits.\n' +
      '  --cores: must be at most 4: the device has 4 cores\n' +
      '  --memory: must be at most 3.5 GiB: the device has 4.0 GiB and keeps 512 MiB (an eighth, at least 256 MiB) for itself\n' +
      "  --disk: must be at most 32.0 GiB: that is the size of the device's renter storage\n",
  );
  const unenrolled = await createDevice({ owner, name: 'new-pi' });
  const early = await runCli(['devices', 'offer', unenrolled.id, '--cores', '1'], { env: owner.env });
  assert.equal(early.code, 1);
  assert.match(early.stderr, /reports its hardware when its agent enrols/);
});

test('devices offer rejects a bad rate or size before calling the server', async () => {
  const rate = await runCli(['devices', 'offer', 'x', '--bandwidth', 'fast'], { env: { P2PVPS_TOKEN: 'any' }, offline: true });
  assert.equal(rate.code, 2);
  assert.match(rate.stderr, /^error \[usage\]: --bandwidth must be a rate like 20Mbit or 1Gbit, or none, not "fast"/);
  const size = await runCli(['devices', 'offer', 'x', '--memory', 'lots'], { env: { P2PVPS_TOKEN: 'any' }, offline: true });
  assert.equal(size.code, 2);
  assert.match(size.stderr, /^error \[usage\]: --memory: "lots" is not a size/);
  const both = await runCli(['devices', 'offer', 'x', '--default', '--cores', '1'], { env: { P2PVPS_TOKEN: 'any' }, offline: true });
  assert.equal(both.code, 2);
});
