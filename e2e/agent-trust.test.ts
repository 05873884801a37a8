import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { storageMountDir } from '@p2pvps/agent/storage/renter-storage';
import {
  rentalContainers,
  createRentedDevice,
  createServer,
  createUser,
  docker,
  openSsh,
  removeDeviceContainers,
  waitFor,
  type RentedDevice,
  type TestServer,
} from './harness.ts';

/**
 * What must never make an agent destroy a renter's container and files: a clock hours off
 * (a Raspberry Pi after a power cut), or a 401 that is not the server's own revocation (a
 * proxy's, with no envelope or a foreign one). Only a removal the server stands by does,
 * and a device removed and added again on the same host does not keep its old container.
 * The agents here reach the server through a small HTTP proxy on loopback that the test
 * can make answer 401 itself; the server's public URL is the proxy's, as it would be
 * behind a real one.
 */
type Mode = 'pass' | 'bare-401' | 'foreign-401';
let mode: Mode = 'pass';
const refused = { heartbeat: 0 };
const sockets = new Set<Socket>();
let target = 0;
const proxy = http.createServer((req, res) => {
  if (mode !== 'pass' && req.url?.startsWith('/api/v1/agent/')) {
    if (req.url.startsWith('/api/v1/agent/heartbeat')) refused.heartbeat++;
    req.resume();
    if (mode === 'bare-401') res.writeHead(401, { 'content-type': 'text/plain' }).end('Unauthorized\n');
    // An envelope of the same shape, but not one of our server's codes.
    else
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"code":"unauthorized","message":"Session expired, log in again."}');
    return;
  }
  const upstream = http.request({ host: '127.0.0.1', port: target, path: req.url, method: req.method, headers: req.headers }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  });
  upstream.on('error', () => res.destroy());
  req.pipe(upstream);
});
proxy.on('connection', (s) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
});
/** Switches the proxy and drops every open connection (kept-alive API connections reconnect through it). */
function setMode(m: Mode): void {
  mode = m;
  refused.heartbeat = 0;
  for (const s of sockets) s.destroy();
}

let server: TestServer;
let proxyUrl = '';
const devices: RentedDevice[] = [];

before(async () => {
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  server = await createServer({ env: { P2PVPS_PUBLIC_URL: proxyUrl } });
  target = server.httpPort;
});

after(async () => {
  for (const d of devices) await d.agent.stop();
  for (const d of devices) await removeDeviceContainers(d.deviceId);
  // An agent that gave up its identity is no longer found by its device ID: unmount its storage here.
  for (const d of devices) spawnSync('umount', [storageMountDir(d.agent.dataDir)]);
  await server?.stop();
  for (const s of sockets) s.destroy();
  proxy.close();
});

const agentState = (d: RentedDevice) =>
  JSON.parse(readFileSync(join(d.agent.dataDir, 'state.json'), 'utf8')) as {
    registration: { deviceId: string } | null;
    rental: { rentalId: string; containerId: string } | null;
    lastServerContactAt: string | null;
  };
const containersOf = (rentalId: string) => rentalContainers(rentalId);

/** The rental's container still runs, the agent still has its identity and rental, and the renter's file is there. */
async function assertKept(d: RentedDevice, containerId: string, what: string): Promise<void> {
  const [c] = await containersOf(d.rental.id);
  assert.equal(c?.Id, containerId, `${what}: the same container`);
  assert.equal(c?.State, 'running', `${what}: still running`);
  const state = agentState(d);
  assert.equal(state.registration?.deviceId, d.deviceId, `${what}: the agent keeps its identity`);
  assert.equal(state.rental?.rentalId, d.rental.id, `${what}: the agent keeps the rental`);
  const file = await waitFor(`${what}: the renter's file`, async () => {
    const r = await openSsh(d.ssh, 'cat ~/file');
    return r.code === 0 && r;
  });
  assert.equal(file.stdout, 'kept\n', `${what}: the renter's file`);
}

test('an agent whose clock is two hours off keeps the rental and its files, and reconnects', async () => {
  let skew = 0;
  const owner = await createUser(server, 'owner');
  const renter = await createUser(server, 'renter');
  const d = await createRentedDevice(server, owner, renter, 'no-rtc-pi', {
    serverUrl: proxyUrl,
    effects: { now: () => Date.now() + skew, revocationConfirmDelayMs: 200 },
  });
  devices.push(d);
  await waitFor('a file written', async () => (await openSsh(d.ssh, 'echo kept > ~/file')).code === 0);
  const [container] = await containersOf(d.rental.id);

  for (const offset of [-2 * 60 * 60_000, 2 * 60 * 60_000]) {
    const what = `clock ${offset / 3_600_000} h`;
    await d.agent.stop();
    const contact = agentState(d).lastServerContactAt;
    skew = offset;
    // A device that boots with a wrong clock: the agent starts again with it.
    await d.agent.restart();
    await waitFor(`${what}: a heartbeat the server accepts`, async () => agentState(d).lastServerContactAt !== contact, 30_000);
    await assertKept(d, container!.Id, what);
    assert.ok(d.agent.agent.tunnelUp || (await waitFor(`${what}: the tunnel`, async () => d.agent.agent.tunnelUp)));
    assert.equal((await renter.api.call('getRental', { params: { rentalId: d.rental.id } })).state, 'active');
  }
  skew = 0;
});

test("a proxy's 401, without an envelope or with a foreign one, changes nothing; the server's own revocation does", async () => {
  const owner = await createUser(server, 'owner');
  const renter = await createUser(server, 'renter');
  const d = await createRentedDevice(server, owner, renter, 'proxied-pi', {
    serverUrl: proxyUrl,
    effects: { revocationConfirmDelayMs: 200 },
  });
  devices.push(d);
  await waitFor('a file written', async () => (await openSsh(d.ssh, 'echo kept > ~/file')).code === 0);
  const [container] = await containersOf(d.rental.id);

  for (const m of ['bare-401', 'foreign-401'] as const) {
    setMode(m);
    d.agent.agent.requestSync('test');
    // Heartbeats get the 401 (twice, so the first answer was acted on) and try again.
    await waitFor(`${m}: the agent refused by the proxy`, async () => refused.heartbeat >= 2, 30_000);
    await assertKept(d, container!.Id, m);
  }

  setMode('pass');
  const contact = agentState(d).lastServerContactAt;
  // Asked again until it gets through: the first try may meet a connection the switch just dropped.
  await waitFor(
    'the agent back through the proxy',
    async () => (d.agent.agent.requestSync('test'), agentState(d).lastServerContactAt !== contact),
    30_000,
  );
  await assertKept(d, container!.Id, 'proxy passing again');
  assert.equal((await renter.api.call('getRental', { params: { rentalId: d.rental.id } })).state, 'active');

  // What does wipe: the owner removes the device, and the server says so, again and again.
  await owner.api.call('removeDevice', { params: { deviceId: d.deviceId } });
  await waitFor('the agent to give up the removed identity', async () => agentState(d).registration === null, 30_000);
  assert.deepEqual(await containersOf(d.rental.id), [], 'the container is destroyed');
  assert.equal(agentState(d).rental, null);
});

test("a device removed and added again on the same host: the old identity's container goes, so the new one can rent", async () => {
  const owner = await createUser(server, 'owner');
  const renter = await createUser(server, 'renter');
  const old = await createRentedDevice(server, owner, renter, 'readded-pi', { serverUrl: proxyUrl });
  devices.push(old);
  // The agent is gone (say, reinstalled with --purge) while the container runs on; the owner removes the device.
  await old.agent.stop();
  await owner.api.call('removeDevice', { params: { deviceId: old.deviceId } });
  assert.equal((await containersOf(old.rental.id))[0]?.State, 'running');

  const again = await createRentedDevice(server, owner, renter, 'readded-pi', {
    serverUrl: proxyUrl,
    containerSshPort: old.agent.containerSshPort,
  });
  devices.push(again);
  assert.notEqual(again.deviceId, old.deviceId);
  assert.deepEqual(await containersOf(old.rental.id), [], "the earlier identity's container is removed");
  assert.equal((await openSsh(again.ssh, 'echo new')).stdout, 'new\n');
});
