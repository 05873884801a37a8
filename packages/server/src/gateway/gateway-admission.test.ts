import { once } from 'node:events';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import ssh2 from 'ssh2';
import type { ConnectConfig } from 'ssh2';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import { TunnelGateway, type TunnelDevice, type TunnelGatewayOptions } from './tunnel-gateway.ts';

/**
 * What keeps devices logging in while someone else hammers the gateway: per-source caps
 * on handshakes, a deadline for the version line, penalties for sources that never log
 * in, a cap on connections per device key and a budget for global requests. Every test
 * client is on loopback; the "other host" is another 127/8 address (Linux accepts any of
 * them as a source), the device stays on 127.0.0.1.
 */

type SshClient = InstanceType<typeof ssh2.Client>;
const open: { destroy(): void }[] = [];
after(() => {
  for (const o of open.splice(0)) o.destroy();
});

async function startGateway(options: Partial<TunnelGatewayOptions> = {}) {
  const keys = generateEd25519KeyPair('device@test');
  const device: TunnelDevice = {
    deviceId: `dev_${randomBytes(4).toString('hex')}`,
    publicKey: keys.public,
    sshPort: 0,
    publicPortOpen: false,
  };
  const gateway = new TunnelGateway({
    hostKey: generateEd25519KeyPair('gateway@test').private,
    publicBindHost: '127.0.0.1',
    lookupDevice: async (id) => (id === device.deviceId ? device : null),
    ...options,
  });
  const port = await gateway.listen(0, '127.0.0.1');
  return { gateway, port, device, privateKey: keys.private };
}

/** Resolves with the client once logged in, or with the reason it was not ('ECONNRESET', 'All configured authentication methods failed', …). */
function login(port: number, config: ConnectConfig): Promise<SshClient | string> {
  const client = new ssh2.Client();
  open.push(client);
  return new Promise((resolve) => {
    client.once('ready', () => resolve(client));
    client.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    client.connect({ host: '127.0.0.1', port, readyTimeout: 10_000, ...config });
  });
}

/** Why an idle connection ended, if by an error: 'ECONNRESET' is the gateway refusing it at accept. */
const socketErrors = new WeakMap<net.Socket, string>();

/** A TCP connection from `localAddress` that never says a word; resolves once it is connected, or was refused. */
function idle(port: number, localAddress: string): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', (err: NodeJS.ErrnoException) => socketErrors.set(socket, err.code ?? err.message));
  // Reads (and drops) the gateway's greeting, so the socket sees the gateway's FIN.
  socket.resume();
  open.push(socket);
  return new Promise((resolve) => {
    socket.once('connect', () => resolve(socket));
    socket.once('close', () => resolve(socket));
  });
}

async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('one host flooding the gateway', () => {
  test('while one address holds 2,000 idle connections, a device elsewhere still logs in', async () => {
    const { gateway, port, device, privateKey } = await startGateway();
    const flood: net.Socket[] = [];
    // In batches, so the listen backlog never overflows and every connect gets an answer at once.
    for (let i = 0; i < 2_000; i += 200) {
      flood.push(...(await Promise.all(Array.from({ length: 200 }, () => idle(port, '127.0.0.2')))));
    }

    const client = await login(port, { username: device.deviceId, privateKey });
    assert.ok(typeof client !== 'string', `the device was refused: ${client}`);
    // The flood still holds its share: the connections the gateway let in wait for the login grace.
    const stats = gateway.admissionStats();
    assert.equal(stats.handshakesInFlight, 8, 'the flood holds 8 handshakes (maxStartupsPerSource)');
    assert.equal(stats.refusedPerSource, 2_000 - 8, 'every other flood connection was refused at accept');

    client.end();
    for (const s of flood) s.destroy();
    await gateway.close();
  });
});

describe('the version line', () => {
  test('a connection that sends no version line is dropped after versionTimeoutMs; one that sent it is not', async () => {
    const { gateway, port } = await startGateway({ versionTimeoutMs: 300, penalties: null });
    const talker = await idle(port, '127.0.0.1');
    talker.write('SSH-2.0-OpenSSH_9.2p1 test\r\n');
    const silent = await idle(port, '127.0.0.1');
    await waitFor('the silent connection to be dropped', () => silent.destroyed || silent.readableEnded, 5_000);
    assert.equal(talker.destroyed || talker.readableEnded, false, 'a client that spoke keeps the 30 s login grace');
    talker.destroy();
    await gateway.close();
  });
});

describe('penalties for sources that never log in', () => {
  test('a source whose logins keep failing is refused at once for a while; devices elsewhere are not; the refusal ends', async () => {
    const clock = { now: 1_000_000 };
    const { gateway, port, device, privateKey } = await startGateway({ now: () => clock.now });
    const stranger = generateEd25519KeyPair('stranger').private;
    const guess = () => login(port, { username: device.deviceId, privateKey: stranger, localAddress: '127.0.0.3' });
    // authfail costs 5 s, min is 15 s: the first three guesses reach the login prompt.
    for (let i = 0; i < 3; i++) assert.equal(await guess(), 'All configured authentication methods failed');
    // The gateway counts the guess when its connection closes, a moment after the client gives up.
    assert.equal(await waitFor('127.0.0.3 to be refused', async () => ((await guess()) === 'ECONNRESET' ? 'refused' : '')), 'refused');
    assert.equal(gateway.admissionStats().refusedPenalised >= 1, true);

    const client = await login(port, { username: device.deviceId, privateKey });
    assert.ok(typeof client !== 'string', `the device on 127.0.0.1 was refused: ${client}`);
    client.end();

    clock.now += 15_000;
    assert.equal(await guess(), 'All configured authentication methods failed', 'after min (15 s) the source may try again');
    await gateway.close();
  });

  test('connections that time out before the version line earn the source a refusal', async () => {
    const { gateway, port } = await startGateway({ versionTimeoutMs: 100 });
    // grace-exceeded costs 10 s: two of them reach min (15 s).
    for (let i = 0; i < 2; i++) {
      const s = await idle(port, '127.0.0.4');
      await once(s, 'close');
    }
    await waitFor('127.0.0.4 to be refused', async () => {
      const s = await idle(port, '127.0.0.4');
      if (!s.closed) await once(s, 'close');
      return socketErrors.get(s) === 'ECONNRESET';
    });
    await gateway.close();
  });
});

describe('connections per device key (L18)', () => {
  test('a key holds at most 4 connections: a newer login ends the oldest, never the one serving the tunnel', async () => {
    const { gateway, port, device, privateKey } = await startGateway();
    device.sshPort = 21_000 + Math.floor(Math.random() * 1_000);
    const first = (await login(port, { username: device.deviceId, privateKey })) as SshClient;
    assert.ok(typeof first !== 'string');
    await new Promise<void>((resolve, reject) => first.forwardIn('127.0.0.1', device.sshPort, (err) => (err ? reject(err) : resolve())));
    assert.equal(gateway.isOnline(device.deviceId), true);

    const closed = new Set<number>();
    const clients = [first];
    first.on('close', () => closed.add(0));
    for (let i = 1; i < 7; i++) {
      const c = await login(port, { username: device.deviceId, privateKey });
      assert.ok(typeof c !== 'string', `login ${i} was refused: ${c}`);
      c.on('close', () => closed.add(i));
      clients.push(c);
    }
    await waitFor('the oldest spare connections to be ended', () => closed.size === 3);
    assert.deepEqual([...closed].sort(), [1, 2, 3], 'the three oldest besides the tunnel’s');
    assert.equal(gateway.isOnline(device.deviceId), true, 'the tunnel stayed up');
    assert.equal(gateway.connectionCount(), 4);
    for (const c of clients) c.end();
    await gateway.close();
  });
});

describe('global requests', () => {
  test('a connection gets a burst of 16 requests, then one a second; the rest are refused', async () => {
    const clock = { now: 1_000_000 };
    const started = await startGateway({ now: () => clock.now });
    const { gateway, port, device, privateKey } = started;
    device.sshPort = 21_000 + Math.floor(Math.random() * 1_000);
    const client = (await login(port, { username: device.deviceId, privateKey, localAddress: '127.0.0.5' })) as SshClient;
    assert.ok(typeof client !== 'string');
    const forward = () => new Promise<boolean>((resolve) => client.forwardIn('127.0.0.1', device.sshPort, (err) => resolve(!err)));
    const results = await Promise.all(Array.from({ length: 40 }, forward));
    assert.equal(results.filter(Boolean).length, 16);
    assert.deepEqual(results.slice(0, 16), Array(16).fill(true), 'the first 16 in order');
    clock.now += 1_000;
    assert.equal(await forward(), true, 'one more after a second');
    assert.equal(await forward(), false);
    client.end();
    await gateway.close();
  });
});
