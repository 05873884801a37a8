import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createListing, createRental, FakeReply, runCli, tempDir } from '../test-harness.ts';

const auth = { P2PVPS_TOKEN: 'tok_renter' };
const PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMkGvQ7yI0k0Vt3eNqPp0m7bB2zq9xZ2mQ1bL4p8w2aB me@laptop';

async function keyPair(withPublic = true): Promise<string> {
  const dir = await tempDir();
  const privateKey = join(dir, 'id_ed25519');
  await writeFile(
    privateKey,
    '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n-----END OPENSSH PRIVATE KEY-----\n',
    { mode: 0o600 },
  );
  if (withPublic) await writeFile(`${privateKey}.pub`, `${PUBLIC_KEY}\n`);
  return privateKey;
}

test('rent with a private key path sends its .pub and prints how to connect', async () => {
  const rental = createRental({ state: 'requested', activatedAt: null });
  const result = await runCli(['rent', 'dev000999', '--ssh-key', await keyPair(), '--hours', '3', '--no-wait'], {
    env: auth,
    routes: { 'POST /api/v1/rentals': () => new FakeReply(201, rental) },
  });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.requests[0]?.body, { deviceId: 'dev000999', sshPublicKey: PUBLIC_KEY, hours: 3 });
  assert.equal(
    result.stdout,
    [
      `Rental    ${rental.id}`,
      'State     requested',
      'Device    garage-pi (dev000999)',
      'SSH       ssh -p 2201 u_k3j9@market.example.org',
      'Password  correct-horse-battery',
      'Expires   2025-06-01 14:00:00 UTC (in 2h)',
      '',
      `The device is starting your container; 'p2pvps ssh ${rental.id}' waits for it.`,
      '',
    ].join('\n'),
  );
});

test('rent refuses a private key without its public half', async () => {
  const keyFile = await keyPair(false);
  const result = await runCli(['rent', 'dev000999', '--ssh-key', keyFile], { env: auth });
  assert.equal(result.code, 1);
  assert.equal(result.requests.length, 0);
  assert.equal(
    result.stderr,
    `error [ssh_key_private]: ${keyFile} is a private key and ${keyFile}.pub does not exist; give the public key file.\n`,
  );
});

test('rent --wait polls until the container is running', async () => {
  const requested = createRental({ state: 'requested', activatedAt: null });
  let polls = 0;
  const result = await runCli(['rent', 'dev000999', '--wait'], {
    env: auth,
    routes: {
      'POST /api/v1/rentals': () => new FakeReply(201, requested),
      'GET /api/v1/rentals/:rentalId': () => (++polls < 3 ? requested : { ...requested, state: 'active' }),
    },
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(polls, 3);
  assert.match(result.stderr, /Waiting for garage-pi to start your container/);
  assert.match(result.stdout, /^State +active$/m);
  assert.match(result.stdout, new RegExp(`Connect with 'p2pvps ssh ${requested.id}'`));
});

test('rent --wait fails clearly when the rental ends instead', async () => {
  const requested = createRental({ state: 'requested', activatedAt: null });
  const result = await runCli(['rent', 'dev000999', '--wait'], {
    env: auth,
    routes: {
      'POST /api/v1/rentals': () => new FakeReply(201, requested),
      'GET /api/v1/rentals/:rentalId': () => ({
        ...requested,
        state: 'ended',
        endReason: 'provisioning_failed',
        detail: 'image missing',
      }),
    },
  });
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    new RegExp(
      `^error \\[rental_ended\\]: Rental ${requested.id} ended before it became active \\(provisioning_failed: image missing\\)\\.$`,
      'm',
    ),
  );
});

test('rent finds a listed device by name', async () => {
  const listing = createListing({ name: 'Garage Pi' });
  const result = await runCli(['rent', 'Garage Pi', '--no-wait', '--json'], {
    env: auth,
    routes: {
      'GET /api/v1/market': () => ({ listings: [listing, createListing({ name: 'Other' })] }),
      'POST /api/v1/rentals': () => new FakeReply(201, createRental({ deviceId: listing.deviceId })),
    },
  });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.requests[1]?.body, { deviceId: listing.deviceId });
  assert.equal(JSON.parse(result.stdout).deviceId, listing.deviceId);
});

test('rentals --all asks for ended rentals and shows them without connection details', async () => {
  const result = await runCli(['rentals', '--all'], {
    env: auth,
    routes: {
      'GET /api/v1/rentals': () => ({
        rentals: [
          createRental({ id: 'rent111111' }),
          createRental({
            id: 'rent222222',
            state: 'ended',
            endReason: 'expired',
            expiresAt: '2025-05-01T00:00:00Z',
            endedAt: '2025-05-01T00:00:00Z',
          }),
        ],
      }),
    },
  });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.requests[0]?.query, { all: 'true' });
  assert.equal(
    result.stdout,
    [
      'ID          DEVICE     STATE            CREATED  EXPIRES  SSH',
      'rent111111  garage-pi  active           1h ago   in 2h    ssh -p 2201 u_k3j9@market.example.org',
      'rent222222  garage-pi  ended (expired)  1h ago   -        -',
      '',
    ].join('\n'),
  );
});

test('stop reports the rental as ending', async () => {
  const result = await runCli(['stop', 'rent333333'], {
    env: auth,
    routes: {
      'POST /api/v1/rentals/:rentalId/stop': () =>
        createRental({ id: 'rent333333', state: 'ending', endReason: 'renter_stopped' }),
    },
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.requests[0]?.path, '/api/v1/rentals/rent333333/stop');
  assert.equal(
    result.stdout,
    'Stopped rental rent333333 on garage-pi (ending); its container is destroyed and wiped.\n',
  );
});
