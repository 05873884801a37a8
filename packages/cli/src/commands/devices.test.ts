import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiError, createDevice, FakeReply, runCli } from '../test-harness.ts';

const auth = { P2PVPS_TOKEN: 'tok_owner' };

test('devices price resolves a name and sends integer micros', async () => {
  const device = createDevice({ name: 'kitchen-pi', pricePerHourMicros: null });
  const result = await runCli(['devices', 'price', 'kitchen-pi', '0.07'], {
    env: auth,
    routes: {
      'GET /api/v1/devices': () => ({ devices: [device] }),
      'PATCH /api/v1/devices/:deviceId': (req) => ({ ...device, ...(req.body as object) }),
    },
  });
  assert.equal(result.stderr, '');
  assert.equal(result.code, 0);
  const patch = result.requests.find((r) => r.method === 'PATCH');
  assert.equal(patch?.path, `/api/v1/devices/${device.id}`);
  assert.deepEqual(patch?.body, { pricePerHourMicros: 70_000 });
  assert.equal(patch?.authorization, 'Bearer tok_owner');
  assert.equal(result.stdout, 'kitchen-pi now costs 0.07 USD per hour.\n');
});

test('devices price rejects a seventh decimal before calling the server', async () => {
  const result = await runCli(['devices', 'price', 'kitchen-pi', '0.0000001'], { env: auth });
  assert.equal(result.code, 2);
  assert.equal(result.requests.length, 0);
  assert.match(result.stderr, /^error \[usage\]: PRICE "0.0000001" has more than 6 decimals/);
});

test('devices add prints the token, a device-config.json and the commands for the device', async () => {
  const device = createDevice({ name: 'attic-pi', status: 'awaiting_enrolment', online: false, hardware: null });
  const result = await runCli(
    ['--server', 'https://market.example.org', 'devices', 'add', 'attic-pi', '--description', 'Pi 5'],
    {
      env: auth,
      routes: {
        'POST /api/v1/devices': () =>
          new FakeReply(201, { device, enrolmentToken: 'enrol_abc123', expiresAt: '2025-06-02T12:00:00Z' }),
      },
    },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.requests[0]?.body, { name: 'attic-pi', description: 'Pi 5' });
  assert.match(result.stdout, /^Added device attic-pi \(ID dev\d+\)\./);
  assert.match(result.stdout, /^ {2}enrol_abc123$/m);
  const json =
    /device-config.json for the device \(the agent reads \/etc\/p2pvps\/device-config.json\):\n(\{[\s\S]*?\n\})/.exec(
      result.stdout,
    )?.[1];
  assert.deepEqual(JSON.parse(json ?? 'null'), {
    serverUrl: 'https://market.example.org',
    enrolmentToken: 'enrol_abc123',
    dataDir: '/var/lib/p2pvps-agent',
  });
  assert.match(
    result.stdout,
    /^ {2}p2pvps agent init --server https:\/\/market.example.org --token enrol_abc123\n {2}p2pvps agent\n$/m,
  );
});

test('devices list shows a table a person can read', async () => {
  const result = await runCli(['devices', 'list'], {
    env: auth,
    routes: {
      'GET /api/v1/devices': () => ({
        devices: [
          createDevice({ id: 'dev111111', name: 'kitchen-pi' }),
          createDevice({
            id: 'dev222222',
            name: 'attic',
            online: false,
            status: 'offline',
            listed: false,
            pricePerHourMicros: null,
          }),
        ],
      }),
    },
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(
    result.stdout,
    [
      'ID         NAME        STATUS   MARKET   PRICE/H  PORT  HARDWARE                                    LAST SEEN',
      'dev111111  kitchen-pi  online   listed  0.05 USD  2201  arm64, 4 cores, 4.0 GiB RAM, 32.0 GiB disk  now',
      'dev222222  attic       offline  on             -  2201  arm64, 4 cores, 4.0 GiB RAM, 32.0 GiB disk  1m ago',
      '',
    ].join('\n'),
  );
});

test('--json prints the API reply unchanged', async () => {
  const devices = [createDevice()];
  const result = await runCli(['devices', 'list', '--json'], {
    env: auth,
    routes: { 'GET /api/v1/devices': () => ({ devices }) },
  });
  assert.deepEqual(JSON.parse(result.stdout), { devices });
});

test('an API error prints its code, message and field problems, and exits 1', async () => {
  const result = await runCli(['devices', 'add', ' '], {
    env: auth,
    routes: {
      'POST /api/v1/devices': () =>
        apiError(400, 'invalid_request', 'The request is not valid; see "fields" for what to fix.', {
          'body.name': 'must not be empty',
        }),
    },
  });
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    'error [invalid_request]: The request is not valid; see "fields" for what to fix.\n  body.name: must not be empty\n',
  );
});

test('owner commands say how to log in when there is no token', async () => {
  const result = await runCli(['devices', 'list']);
  assert.equal(result.code, 1);
  assert.equal(result.requests.length, 0);
  assert.match(
    result.stderr,
    /^error \[unauthenticated\]: You are not logged in to http:\/\/127.0.0.1:8080; run 'p2pvps login'/,
  );
});
