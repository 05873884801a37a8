import { once } from 'node:events';
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { ConnectConfig, ParsedKey } from 'ssh2';
import { TunnelGateway, TunnelUnavailableError, type TunnelDevice, type TunnelGatewayOptions } from './tunnel-gateway.ts';
import type { AgentEvent } from '@p2pvps/protocol/agent-schemas';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import { tunnelNudgeOrigin } from '@p2pvps/protocol/tunnel-ssh';
import { InProcessEventBus } from '../events/event-bus.ts';

const { BaseAgent, Client, utils } = ssh2;
type SshClient = InstanceType<typeof Client>;

// ---- factories and helpers -------------------------------------------------------

interface TestDevice extends TunnelDevice {
  privateKey: string;
}

function createDevice(sshPort: number): TestDevice {
  const keys = generateEd25519KeyPair('device@test');
  const deviceId = `dev_${randomBytes(6).toString('hex')}`;
  return { deviceId, publicKey: keys.public, privateKey: keys.private, sshPort };
}

const handedOut = new Set<number>();
/** A free port in 21000–21999: outside the kernel's ephemeral range, so nothing else grabs it meanwhile. */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 21000 + Math.floor(Math.random() * 1000);
    if (handedOut.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port in 21000-21999');
}

async function startGateway(options: Partial<TunnelGatewayOptions> = {}) {
  const devices = new Map<string, TunnelDevice>();
  /** How often the gateway asked the policy store about each device. */
  const lookups = new Map<string, number>();
  const events: string[] = [];
  /** What the gateway reported for one device, in order: e.g. ['up', 'down']. */
  const eventsOf = (deviceId: string) => events.filter((e) => e.endsWith(` ${deviceId}`)).map((e) => e.split(' ')[0]);
  const gateway = new TunnelGateway({
    hostKey: generateEd25519KeyPair('test').private,
    publicBindHost: '127.0.0.1',
    lookupDevice: async (id) => {
      lookups.set(id, (lookups.get(id) ?? 0) + 1);
      return devices.get(id) ?? null;
    },
    onTunnelUp: (id) => events.push(`up ${id}`),
    onTunnelDown: (id) => events.push(`down ${id}`),
    ...options,
  });
  const port = await gateway.listen(0, '127.0.0.1');
  const enrol = async (): Promise<TestDevice> => {
    const device = createDevice(await freePort());
    devices.set(device.deviceId, device);
    return device;
  };
  return { gateway, port, devices, lookups, eventsOf, enrol };
}

/** A service on the device's side: greets with its tag, then echoes. Counts who reached it. */
async function startService(tag: string) {
  const service = { port: 0, connections: 0, server: net.createServer() };
  service.server.on('connection', (socket) => {
    service.connections++;
    socket.on('error', () => {});
    socket.write(`${tag}\n`);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => service.server.listen(0, '127.0.0.1', resolve));
  service.port = (service.server.address() as net.AddressInfo).port;
  return service;
}

const openClients: SshClient[] = [];
const openServers: net.Server[] = [];
afterEach(() => {
  for (const client of openClients.splice(0)) client.end();
});
after(() => {
  for (const server of openServers.splice(0)) server.close();
});

function connect(port: number, config: ConnectConfig): Promise<SshClient> {
  const client = new Client();
  openClients.push(client);
  return new Promise((resolve, reject) => {
    client.once('ready', () => resolve(client));
    // Stays attached: a second error after a failed login must not crash the test run.
    client.on('error', reject);
    client.connect({ host: '127.0.0.1', port, readyTimeout: 5_000, ...config });
  });
}

/** Logs a device in and serves its forwarded connections from a local service. */
async function connectDevice(gatewayPort: number, device: TestDevice, servicePort: number): Promise<SshClient> {
  const client = await connect(gatewayPort, { username: device.deviceId, privateKey: device.privateKey });
  client.on('tcp connection', (_info, accept) => {
    const channel = accept();
    const local = net.connect(servicePort, '127.0.0.1');
    local.on('error', () => channel.destroy());
    channel.on('error', () => local.destroy());
    channel.pipe(local).pipe(channel);
  });
  return client;
}

function forwardIn(client: SshClient, port: number): Promise<void> {
  return new Promise((resolve, reject) => client.forwardIn('127.0.0.1', port, (err) => (err ? reject(err) : resolve())));
}

/** Connects as a member of the public would: sends, half-closes, reads everything back. */
function talk(port: number, payload: string | Buffer): Promise<{ received: Buffer; error?: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const socket = net.connect(port, '127.0.0.1', () => socket.end(payload));
    socket.setTimeout(5_000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    socket.on('close', () => resolve({ received: Buffer.concat(chunks), ...(error ? { error } : {}) }));
  });
}

/** The web forward is requested right after the SSH one; retry until it is recorded. */
async function waitForChannel<T>(open: () => Promise<T>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await open();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves with the error a callback-style ssh2 call reports; fails the test if it succeeds. */
function refusal(call: (cb: (err?: Error | null) => void) => void): Promise<Error> {
  return new Promise((resolve, reject) => call((err) => (err ? resolve(err) : reject(new Error('the gateway allowed it')))));
}

/** Resolves with the login error; fails the test if the login succeeds. */
function loginError(port: number, config: ConnectConfig): Promise<Error & { level?: string }> {
  return connect(port, config).then(
    () => {
      throw new Error('the gateway let this client log in');
    },
    (err: Error) => err,
  );
}

// ---- with a real ssh2 client -----------------------------------------------------

describe('TunnelGateway: a device forwards its own port', () => {
  let gw: Awaited<ReturnType<typeof startGateway>>;
  before(async () => (gw = await startGateway()));
  after(() => gw.gateway.close());

  test('public connections reach the device-side service, both ways; ending the connection takes it offline', async () => {
    const device = await gw.enrol();
    const service = await startService('device-one');
    openServers.push(service.server);
    const client = await connectDevice(gw.port, device, service.port);
    assert.equal(gw.gateway.isOnline(device.deviceId), false);

    await forwardIn(client, device.sshPort);
    assert.equal(gw.gateway.isOnline(device.deviceId), true);
    assert.deepEqual(gw.gateway.onlineDeviceIds(), [device.deviceId]);
    assert.deepEqual(gw.eventsOf(device.deviceId), ['up']);

    // Larger than one SSH window, so flow control on both sides is exercised.
    const payload = randomBytes(3 * 1024 * 1024);
    const { received, error } = await talk(device.sshPort, payload);
    assert.equal(error, undefined);
    assert.equal(received.subarray(0, 11).toString(), 'device-one\n');
    assert.ok(received.subarray(11).equals(payload), 'echoed bytes differ from what was sent');

    client.end();
    await waitFor('tunnel down', () => gw.eventsOf(device.deviceId).length === 2);
    assert.deepEqual(gw.eventsOf(device.deviceId), ['up', 'down']);
    assert.equal(gw.gateway.isOnline(device.deviceId), false);
    assert.equal((await talk(device.sshPort, 'anyone there?')).error, 'ECONNREFUSED');
  });

  test('a newer connection of the same device takes the tunnel over without going offline', async () => {
    const device = await gw.enrol();
    const [first, second] = [await startService('first'), await startService('second')];
    openServers.push(first.server, second.server);
    const old = await connectDevice(gw.port, device, first.port);
    await forwardIn(old, device.sshPort);
    assert.equal((await talk(device.sshPort, 'x')).received.toString(), 'first\nx');

    const oldClosed = once(old, 'close');
    const fresh = await connectDevice(gw.port, device, second.port);
    await forwardIn(fresh, device.sshPort);
    await oldClosed;

    assert.equal(gw.gateway.isOnline(device.deviceId), true);
    assert.deepEqual(gw.eventsOf(device.deviceId), ['up']);
    assert.equal((await talk(device.sshPort, 'y')).received.toString(), 'second\ny');
  });

  test('disconnect() closes the public port and drops the device', async () => {
    const device = await gw.enrol();
    const service = await startService('d');
    openServers.push(service.server);
    const client = await connectDevice(gw.port, device, service.port);
    await forwardIn(client, device.sshPort);
    const closed = once(client, 'close');

    gw.gateway.disconnect(device.deviceId);
    assert.equal(gw.gateway.isOnline(device.deviceId), false);
    assert.deepEqual(gw.eventsOf(device.deviceId), ['up', 'down']);
    assert.equal((await talk(device.sshPort, 'x')).error, 'ECONNREFUSED');
    await closed;
  });

  test('cancelling the forward closes the port and takes the device offline', async () => {
    const device = await gw.enrol();
    const service = await startService('c');
    openServers.push(service.server);
    const client = await connectDevice(gw.port, device, service.port);
    await forwardIn(client, device.sshPort);
    await new Promise<void>((resolve, reject) => client.unforwardIn('127.0.0.1', device.sshPort, (err) => (err ? reject(err) : resolve())));
    assert.equal(gw.gateway.isOnline(device.deviceId), false);
    assert.deepEqual(gw.eventsOf(device.deviceId), ['up', 'down']);
    assert.equal((await talk(device.sshPort, 'x')).error, 'ECONNREFUSED');
  });

  test('policy is asked at a public connection when none is remembered: a removed device is no longer reached', async () => {
    const device = await gw.enrol();
    const service = await startService('removed');
    openServers.push(service.server);
    const client = await connectDevice(gw.port, device, service.port);
    await forwardIn(client, device.sshPort);
    const closed = once(client, 'close');

    gw.devices.delete(device.deviceId);
    const { received } = await talk(device.sshPort, 'secret');
    assert.equal(received.length, 0);
    assert.equal(service.connections, 0);
    await closed;
    assert.deepEqual(gw.eventsOf(device.deviceId), ['up', 'down']);
    assert.equal((await talk(device.sshPort, 'x')).error, 'ECONNREFUSED');
  });
});

test('visitors reconnecting cost one policy lookup; a change the server announces is seen at the next connection', async () => {
  let now = 1_000_000;
  const gw = await startGateway({ now: () => now });
  const device = await gw.enrol();
  const service = await startService('cached');
  openServers.push(service.server);
  const client = await connectDevice(gw.port, device, service.port);
  await forwardIn(client, device.sshPort);
  const afterLogin = gw.lookups.get(device.deviceId) ?? 0;
  for (let i = 0; i < 5; i++) assert.equal((await talk(device.sshPort, `hi ${i}`)).received.toString(), `cached\nhi ${i}`);
  assert.equal((gw.lookups.get(device.deviceId) ?? 0) - afterLogin, 1, 'five visitor connections, one lookup');

  // The rental ended: the server closes the port through refresh(), on every node.
  device.publicPortOpen = false;
  await gw.gateway.refresh(device.deviceId);
  assert.equal((await talk(device.sshPort, 'x')).error, 'ECONNREFUSED');
  device.publicPortOpen = true;
  await gw.gateway.refresh(device.deviceId);
  assert.equal((await talk(device.sshPort, 'again')).received.toString(), 'cached\nagain');

  // A change nobody announced is still seen once the remembered policy is a few seconds old.
  gw.devices.delete(device.deviceId);
  assert.equal((await talk(device.sshPort, 'stale')).received.toString(), 'cached\nstale', 'remembered for a few seconds');
  const closed = once(client, 'close');
  now += 5_001;
  assert.equal((await talk(device.sshPort, 'gone')).received.length, 0);
  await closed;
  assert.deepEqual(gw.eventsOf(device.deviceId), ['up', 'down']);
  await gw.gateway.close();
});

test('a removed device whose policy was remembered is no longer reached once the server disconnects it', async () => {
  const gw = await startGateway();
  const device = await gw.enrol();
  const service = await startService('removed-later');
  openServers.push(service.server);
  const client = await connectDevice(gw.port, device, service.port);
  await forwardIn(client, device.sshPort);
  assert.equal((await talk(device.sshPort, 'hi')).received.toString(), 'removed-later\nhi');
  const connections = service.connections;
  const closed = once(client, 'close');
  gw.devices.delete(device.deviceId);
  gw.gateway.disconnect(device.deviceId);
  await closed;
  // A device reconnecting with the removed key is refused, so nothing serves the port again.
  await assert.rejects(connectDevice(gw.port, device, service.port));
  assert.equal((await talk(device.sshPort, 'secret')).error, 'ECONNREFUSED');
  assert.equal(service.connections, connections);
  await gw.gateway.close();
});

test('an idle device is online with its public port closed; the port opens and closes as the server says', async () => {
  const gw = await startGateway();
  const device = await gw.enrol();
  device.publicPortOpen = false;
  const service = await startService('rented');
  openServers.push(service.server);
  const client = await connectDevice(gw.port, device, service.port);
  await forwardIn(client, device.sshPort);
  assert.equal(gw.gateway.isOnline(device.deviceId), true, 'online without a listener');
  assert.equal((await talk(device.sshPort, 'x')).error, 'ECONNREFUSED', 'nothing listens while not rented');

  device.publicPortOpen = true;
  await gw.gateway.refresh(device.deviceId);
  assert.equal((await talk(device.sshPort, 'hi')).received.toString(), 'rented\nhi');

  device.publicPortOpen = false;
  await gw.gateway.refresh(device.deviceId);
  assert.equal((await talk(device.sshPort, 'x')).error, 'ECONNREFUSED', 'closed again when the rental ends');
  assert.equal(gw.gateway.isOnline(device.deviceId), true);
  assert.deepEqual(gw.eventsOf(device.deviceId), ['up'], 'the tunnel itself never went down');
  await gw.gateway.close();
});

test('a device that stops answering keepalives is dropped and shown offline', async () => {
  const gw = await startGateway({ keepaliveIntervalMs: 100, keepaliveCountMax: 2 });
  try {
    const device = await gw.enrol();
    const sock = net.connect(gw.port, '127.0.0.1');
    const client = await connect(gw.port, { sock, username: device.deviceId, privateKey: device.privateKey });
    await forwardIn(client, device.sshPort);
    assert.equal(gw.gateway.isOnline(device.deviceId), true);

    sock.pause(); // as if the device's NAT mapping had vanished: nothing is read or answered
    await waitFor('tunnel down after missed keepalives', () => !gw.gateway.isOnline(device.deviceId), 3_000);
    assert.deepEqual(gw.eventsOf(device.deviceId), ['up', 'down']);
    sock.destroy();
  } finally {
    await gw.gateway.close();
  }
});

test('a policy store that fails refuses logins rather than letting anyone in', async () => {
  const gw = await startGateway({ lookupDevice: () => Promise.reject(new Error('database is down')) });
  try {
    const device = createDevice(await freePort());
    const err = await loginError(gw.port, { username: device.deviceId, privateKey: device.privateKey });
    assert.equal(err.level, 'client-authentication');
  } finally {
    await gw.gateway.close();
  }
});

describe('TunnelGateway: refuses everything but the device’s own forward', () => {
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let device: TestDevice;
  let other: TestDevice;
  let client: SshClient;
  let otherClient: SshClient;
  before(async () => {
    // Its refused logins all come from 127.0.0.1, one after another; the penalties that
    // would refuse the later ones have tests of their own (gateway-admission.test.ts).
    gw = await startGateway({ penalties: null });
    [device, other] = [await gw.enrol(), await gw.enrol()];
    const otherService = await startService('other');
    openServers.push(otherService.server);
    otherClient = await connectDevice(gw.port, other, otherService.port);
    await forwardIn(otherClient, other.sshPort);
    openClients.splice(openClients.indexOf(otherClient), 1); // online for the whole block
  });
  after(async () => {
    otherClient.end();
    await gw.gateway.close();
  });
  const login = async () => (client = await connectDevice(gw.port, device, 1));

  test('no shell, exec, sftp or other subsystem', async () => {
    await login();
    assert.match((await refusal((cb) => client.shell(cb))).message, /open failure|prohibited/i);
    assert.match((await refusal((cb) => client.exec('id', cb))).message, /open failure|prohibited/i);
    assert.match((await refusal((cb) => client.sftp(cb))).message, /open failure|prohibited/i);
    assert.match((await refusal((cb) => client.subsys('netconf', cb))).message, /open failure|prohibited/i);
  });

  test('no direct-tcpip: the device cannot reach hosts through the gateway', async () => {
    await login();
    const target = await startService('target');
    openServers.push(target.server);
    await refusal((cb) => client.forwardOut('127.0.0.1', 0, '127.0.0.1', target.port, cb));
    assert.equal(target.connections, 0);
  });

  test('no unix-socket forwarding either way', async () => {
    await login();
    await refusal((cb) => client.openssh_forwardInStreamLocal(join(tmpdir(), 'gw-test.sock'), cb));
    await refusal((cb) => client.openssh_forwardOutStreamLocal('/run/docker.sock', cb));
  });

  test('no forwarding of another device’s port, an unassigned port, or port 0', async () => {
    await login();
    const unassigned = await freePort();
    await assert.rejects(forwardIn(client, other.sshPort));
    await assert.rejects(forwardIn(client, unassigned));
    await assert.rejects(forwardIn(client, 0));
    assert.equal(gw.gateway.isOnline(device.deviceId), false);
    assert.equal((await talk(unassigned, 'x')).error, 'ECONNREFUSED');
    // The other device's port still reaches the other device, not this one.
    assert.equal((await talk(other.sshPort, 'hi')).received.toString(), 'other\nhi');
  });

  test('a forward request is checked against the policy at request time, not only at login', async () => {
    await login();
    const oldPort = device.sshPort;
    gw.devices.set(device.deviceId, { ...device, sshPort: await freePort() });
    try {
      await assert.rejects(forwardIn(client, oldPort));
      assert.equal((await talk(oldPort, 'x')).error, 'ECONNREFUSED');
    } finally {
      gw.devices.set(device.deviceId, device);
    }
  });

  test('an unknown key is refused at login', async () => {
    const stranger = createDevice(await freePort());
    const err = await loginError(gw.port, { username: stranger.deviceId, privateKey: stranger.privateKey });
    assert.equal(err.level, 'client-authentication');
  });

  test('a known device ID with another key is refused, even another enrolled device’s key', async () => {
    const err = await loginError(gw.port, { username: device.deviceId, privateKey: other.privateKey });
    assert.equal(err.level, 'client-authentication');
    const stranger = createDevice(1);
    const err2 = await loginError(gw.port, { username: device.deviceId, privateKey: stranger.privateKey });
    assert.equal(err2.level, 'client-authentication');
  });

  test('offering the device’s public key without its private key is refused', async () => {
    // An agent that knows the device's public key (it is no secret) but signs with another key.
    const impostor = utils.parseKey(generateEd25519KeyPair('test').private) as ParsedKey;
    class ImpostorAgent extends BaseAgent<ParsedKey> {
      getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void) {
        cb(undefined, [utils.parseKey(device.publicKey) as ParsedKey]);
      }
      sign(_key: ParsedKey, data: Buffer, options: unknown, cb?: (err: Error | undefined, sig?: Buffer) => void) {
        const done = typeof options === 'function' ? (options as typeof cb) : cb;
        done?.(undefined, impostor.sign(data));
      }
    }
    const err = await loginError(gw.port, { username: device.deviceId, agent: new ImpostorAgent() });
    assert.equal(err.level, 'client-authentication');
  });

  test('password and keyboard-interactive are refused and only publickey is offered', async () => {
    const offered: (string[] | null)[] = [];
    const attempts = ['none', 'password', 'keyboard-interactive'] as const;
    const err = await loginError(gw.port, {
      username: device.deviceId,
      authHandler: (methodsLeft, _partial, next) => {
        offered.push(methodsLeft);
        const type = attempts[offered.length - 1];
        // ssh2 takes `false` for "give up"; @types/ssh2 does not list it.
        if (type === undefined) return (next as unknown as (stop: false) => void)(false);
        if (type === 'password') return next({ type, username: device.deviceId, password: 'hunter2' });
        if (type === 'keyboard-interactive')
          return next({ type, username: device.deviceId, prompt: (_n, _i, _l, _p, done) => done(['hunter2']) });
        return next({ type, username: device.deviceId });
      },
    });
    assert.equal(err.level, 'client-authentication');
    assert.deepEqual(offered, [null, ['publickey'], ['publickey'], ['publickey']]);
  });
});

// ---- with stock OpenSSH ----------------------------------------------------------

describe('TunnelGateway with the OpenSSH client', () => {
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let device: TestDevice;
  let dir: string;
  let keyFile: string;
  const children: ChildProcess[] = [];
  before(async () => {
    gw = await startGateway();
    device = await gw.enrol();
    dir = mkdtempSync(join(tmpdir(), 'p2pvps-gw-'));
    keyFile = join(dir, 'id_ed25519');
    writeFileSync(keyFile, device.privateKey, { mode: 0o600 });
  });
  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    await gw.gateway.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function ssh(options: string[], command: string[] = []) {
    const child = spawn(
      '/usr/bin/ssh',
      [
        ...['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'ConnectTimeout=5'],
        ...['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'],
        ...['-i', keyFile, '-p', String(gw.port), ...options, `${device.deviceId}@127.0.0.1`, ...command],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SSH_AUTH_SOCK: '' } },
    );
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
      child.once('exit', (code) => resolve({ code, stderr })),
    );
    return { child, exited };
  }

  async function exitsWithin<T>(exited: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`ssh still running after ${ms} ms`)), ms);
    });
    try {
      return await Promise.race([exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  test('ssh -N -R with the device key publishes the local service on the device’s port', async () => {
    const service = await startService('openssh-device');
    openServers.push(service.server);
    const { child, exited } = ssh(['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `${device.sshPort}:127.0.0.1:${service.port}`]);
    try {
      await waitFor('OpenSSH tunnel up', () => gw.gateway.isOnline(device.deviceId));
      const { received, error } = await talk(device.sshPort, 'over OpenSSH');
      assert.equal(error, undefined);
      assert.equal(received.toString(), 'openssh-device\nover OpenSSH');
      // OpenSSH advertises 32 KiB packets, the gateway's ssh2 64 KiB (packages/protocol/ssh2-patch.mjs):
      // each side sends what the other takes, so megabytes cross whole both ways.
      const bulk = randomBytes(6 * 1024 * 1024);
      const echoed = await talk(device.sshPort, bulk);
      assert.equal(echoed.error, undefined);
      assert.equal(echoed.received.length, 'openssh-device\n'.length + bulk.length);
      assert.ok(echoed.received.subarray('openssh-device\n'.length).equals(bulk), 'the bytes came back whole and in order');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    await waitFor('OpenSSH tunnel down', () => !gw.gateway.isOnline(device.deviceId));
    assert.equal((await talk(device.sshPort, 'x')).error, 'ECONNREFUSED');
  });

  test('ssh -R 80 and -R 443 are carried by name only: a front door reaches them, nothing listens', async () => {
    const ssh22 = await startService('device-ssh');
    const web = await startService('device-web');
    openServers.push(ssh22.server, web.server);
    const forwards = ['-R', `${device.sshPort}:127.0.0.1:${ssh22.port}`, '-R', `80:127.0.0.1:${web.port}`];
    const { child, exited } = ssh(['-N', '-o', 'ExitOnForwardFailure=yes', ...forwards]);
    try {
      await waitFor('OpenSSH tunnel up', () => gw.gateway.isOnline(device.deviceId));
      const channel = await waitForChannel(() => gw.gateway.openWebChannel(device.deviceId, 80, '203.0.113.7', 4242));
      const greeting = await new Promise<string>((resolve) => channel.once('data', (d: Buffer) => resolve(d.toString())));
      assert.equal(greeting, 'device-web\n');
      channel.close();
      await assert.rejects(
        gw.gateway.openWebChannel(device.deviceId, 443, '203.0.113.7', 4242),
        (e: TunnelUnavailableError) => e.reason === 'not_forwarded',
      );
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    await waitFor('OpenSSH tunnel down', () => !gw.gateway.isOnline(device.deviceId));
    await assert.rejects(
      gw.gateway.openWebChannel(device.deviceId, 80, '203.0.113.7', 4242),
      (e: TunnelUnavailableError) => e.reason === 'offline',
    );
  });

  test('ssh DEVICE@gateway true (exec) fails', async () => {
    const { code, stderr } = await exitsWithin(ssh([], ['true']).exited, 10_000);
    assert.notEqual(code, 0);
    // ssh2's reject() cannot pick the reason code, so OpenSSH reports "connect failed".
    assert.match(stderr, /channel 0: open failed/);
  });

  test('ssh -R to a port that is not the device’s exits non-zero with ExitOnForwardFailure', async () => {
    const otherPort = await freePort();
    const { code, stderr } = await exitsWithin(
      ssh(['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `${otherPort}:127.0.0.1:9`]).exited,
      10_000,
    );
    assert.notEqual(code, 0);
    assert.match(stderr, /remote port forwarding failed/i);
    assert.equal((await talk(otherPort, 'x')).error, 'ECONNREFUSED');
  });
});

test("a device's nudges reach it inside its tunnel, on a channel of their own; a device that refuses it still tunnels", async () => {
  const bus = new InProcessEventBus<AgentEvent>();
  const gw = await startGateway({ nudges: bus });
  const device = await gw.enrol();
  const client = await connect(gw.port, { username: device.deviceId, privateKey: device.privateKey });
  const lines: string[] = [];
  const nudgeChannel = new Promise<void>((resolve) => {
    client.on('tcp connection', (info, accept) => {
      assert.equal(info.srcIP, tunnelNudgeOrigin);
      const channel = accept();
      channel.setEncoding('utf8');
      channel.on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));
      resolve();
    });
  });
  await forwardIn(client, device.sshPort);
  await nudgeChannel;
  await waitFor('the gateway listening for its nudges', () => bus.hasListeners());
  bus.publish(device.deviceId, { type: 'sync', reason: 'rental_requested' });
  bus.publish('someone-else', { type: 'sync', reason: 'not for this device' });
  await waitFor('the nudge', () => lines.length > 0);
  assert.deepEqual(
    lines.map((l) => JSON.parse(l)),
    [{ type: 'sync', reason: 'rental_requested' }],
  );
  // The connection gone, nothing listens for its nudges any more.
  client.end();
  await waitFor('no one listening', () => !bus.hasListeners());

  const refusing = await gw.enrol();
  const other = await connect(gw.port, { username: refusing.deviceId, privateKey: refusing.privateKey });
  other.on('tcp connection', (_info, _accept, reject) => reject());
  await forwardIn(other, refusing.sshPort);
  bus.publish(refusing.deviceId, { type: 'sync', reason: 'nobody reads this' });
  assert.equal(gw.gateway.isOnline(refusing.deviceId), true);
  await gw.gateway.close();
});
