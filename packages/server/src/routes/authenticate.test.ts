/**
 * Device authentication against a real server on a real SQLite file: every refusal has its
 * own code (the agent wipes only on device_revoked), a signed request is accepted once and
 * never again, not even after a restart, and a signature made for another server is refused.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApiClient } from '@p2pvps/protocol/client';
import { deviceSigningText, formatDeviceAuth, legacyDeviceSigningText } from '@p2pvps/protocol/device-auth';
import { routes } from '@p2pvps/protocol/routes';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import { timing } from '@p2pvps/protocol/timing';
import { agentProtocol } from '@p2pvps/protocol/version';
import ssh2 from 'ssh2';
import { ManualClock } from '../domain/clock.ts';
import type { RunningServer } from '../services/server.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';

const origin = 'https://market.example.org';
const clock = new ManualClock(new Date('2026-03-02T12:00:00Z'));
const hardware = { cpuModel: 'Cortex-A72', cores: 4, memoryBytes: 4 * 2 ** 30, diskBytes: 32 * 2 ** 30, arch: 'arm64' };
let testServer: TestServer;
let server: RunningServer;
let owner: ApiClient;
let deviceId = '';
const key = (() => {
  const pair = generateEd25519KeyPair('device');
  const parsed = ssh2.utils.parseKey(pair.private) as ssh2.ParsedKey;
  return { publicKey: pair.public, sign: (data: Buffer) => parsed.sign(data) as Buffer };
})();

before(async () => {
  testServer = await startTestServer('devauth', { P2PVPS_PUBLIC_URL: origin }, { clock });
  server = testServer.server;
  const api = new ApiClient({ baseUrl: server.apiUrl });
  owner = api.withToken((await api.call('signup', { body: { email: 'owner@example.org', password: 'correct horse battery' } })).token);
  const grant = await owner.call('addDevice', { body: { name: 'pi' } });
  deviceId = (
    await api.call('agentRegister', {
      body: { enrolmentToken: grant.enrolmentToken, publicKey: key.publicKey, hardware, agentVersion: 'test' },
    })
  ).deviceId;
});

after(async () => {
  await testServer?.stop();
});

const path = routes.agentHeartbeat.path;
const body = JSON.stringify({ container: null, agentProtocol });

/** A heartbeat signed as the agent would, with what the test chooses to put in the signed text. */
function signed(ts: number, text = deviceSigningText(origin, 'POST', path, ts, body)): string {
  return formatDeviceAuth(deviceId, ts, key.sign(Buffer.from(text)));
}

async function send(authorization: string): Promise<{ status: number; code?: string; detail?: string }> {
  const res = await fetch(server.apiUrl + path, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body });
  const json = (await res.json()) as { code?: string; detail?: string };
  return { status: res.status, code: json.code, detail: json.detail };
}

test('a signed request is accepted once: a replay is refused, also after a restart, and so is an older timestamp', async () => {
  const now = clock.now().getTime();
  const first = signed(now);
  assert.equal((await send(first)).status, 200);
  assert.deepEqual(await send(first), { status: 401, code: 'device_replay', detail: String(now) });
  server = await testServer.restart();
  // The high-water mark is in the database: a restart does not open a replay window.
  assert.deepEqual(await send(first), { status: 401, code: 'device_replay', detail: String(now) });
  assert.equal((await send(signed(now - 1))).code, 'device_replay', 'older than the last accepted');
  assert.equal((await send(signed(now + 1))).status, 200, 'a newer one is fine');
});

test('a clock too far off gets device_clock_skew with the server time, not a revocation', async () => {
  const now = clock.now().getTime();
  const late = await send(signed(now - timing.deviceSignatureSkewMs - 60_000));
  assert.deepEqual(late, { status: 401, code: 'device_clock_skew', detail: clock.now().toISOString() });
  const early = await send(signed(now + 2 * 60 * 60_000));
  assert.equal(early.code, 'device_clock_skew');
  assert.equal((await send(signed(now + 10))).status, 200, 'the refused timestamps did not move the high-water mark');
});

test('a signature made for another server, or without an audience, is refused; so is a tampered one', async () => {
  const ts = clock.now().getTime() + 1000;
  const elsewhere = await send(signed(ts, deviceSigningText('https://other.example.org', 'POST', path, ts, body)));
  assert.deepEqual(elsewhere, { status: 401, code: 'device_auth_failed', detail: undefined });
  const legacy = await send(signed(ts, legacyDeviceSigningText('POST', path, ts, body)));
  assert.equal(legacy.status, 426);
  assert.equal(legacy.code, 'device_agent_outdated');
  const other = await send(signed(ts, deviceSigningText(origin, 'POST', '/api/v1/agent/events', ts, body)));
  assert.equal(other.code, 'device_auth_failed');
  assert.equal((await send(signed(ts))).status, 200, 'none of them used up the timestamp');
});

test('an agent that does not say it takes password hashes (protocol before 2) is told to update, with 426', async () => {
  const ts = clock.now().getTime() + 1500;
  const old = JSON.stringify({ container: null });
  const res = await fetch(server.apiUrl + path, {
    method: 'POST',
    headers: { authorization: signed(ts, deviceSigningText(origin, 'POST', path, ts, old)), 'content-type': 'application/json' },
    body: old,
  });
  const json = (await res.json()) as { code?: string; message?: string };
  assert.equal(res.status, 426);
  assert.equal(json.code, 'device_agent_outdated');
  assert.match(json.message ?? '', /update it \(run the install command again\)/);
});

test('a removed device is told device_revoked, the only refusal that means the key is gone', async () => {
  await owner.call('removeDevice', { params: { deviceId } });
  const ts = clock.now().getTime() + 2000;
  assert.equal((await send(signed(ts))).code, 'device_revoked');
  assert.equal((await send('P2PVPS-Device id=nosuchdevice,ts=1,sig=AAAA')).code, 'device_revoked');
  assert.equal((await send('Bearer nonsense')).code, 'device_auth_failed');
});
