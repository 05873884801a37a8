import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import ssh2 from 'ssh2';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import { HandshakeThrottle } from './handshake-throttle.ts';
import { TunnelGateway } from './tunnel-gateway.ts';

test('admits up to the cap, refuses beyond it, and counts the refusals', () => {
  const throttle = new HandshakeThrottle(2);
  const a = throttle.tryAcquire();
  const b = throttle.tryAcquire();
  assert.ok(a && b);
  assert.equal(throttle.tryAcquire(), null);
  assert.equal(throttle.tryAcquire(), null);
  assert.equal(throttle.inFlight, 2);
  assert.equal(throttle.refused, 2);
});

test('a released slot admits the next handshake', () => {
  const throttle = new HandshakeThrottle(1);
  const first = throttle.tryAcquire();
  assert.ok(first);
  assert.equal(throttle.tryAcquire(), null);
  first();
  assert.ok(throttle.tryAcquire());
});

test('releasing twice frees only one slot (login and close both release)', () => {
  const throttle = new HandshakeThrottle(2);
  const a = throttle.tryAcquire()!;
  throttle.tryAcquire();
  a();
  a();
  assert.equal(throttle.inFlight, 1);
  assert.ok(throttle.tryAcquire());
  assert.equal(throttle.tryAcquire(), null);
});

test('rejects a cap that would refuse everything', () => {
  assert.throws(() => new HandshakeThrottle(0), RangeError);
  assert.throws(() => new HandshakeThrottle(1.5), RangeError);
});

describe('the gateway with a handshake cap', () => {
  const hostKey = generateEd25519KeyPair('gateway@test').private;
  const device = generateEd25519KeyPair('device@test');
  const gateway = new TunnelGateway({
    hostKey,
    publicBindHost: '127.0.0.1',
    lookupDevice: async (id) => (id === 'throttled' ? { deviceId: id, publicKey: device.public, sshPort: 1 } : null),
    maxPendingHandshakes: 1,
  });
  let port = 0;
  const open: { destroy(): void }[] = [];
  before(async () => (port = await gateway.listen(0, '127.0.0.1')));
  after(async () => {
    for (const o of open) o.destroy();
    await gateway.close();
  });

  /** A connection that takes the handshake slot and never logs in; resolves once the gateway has greeted it. */
  async function stall(): Promise<net.Socket> {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    open.push(socket);
    await once(socket, 'data');
    return socket;
  }

  /** Resolves 'ready' once the device is logged in, or the reason it never was. */
  function login(): Promise<string> {
    const client = new ssh2.Client();
    open.push(client);
    return new Promise((resolve) => {
      client.once('ready', () => resolve('ready'));
      client.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      client.connect({ host: '127.0.0.1', port, username: 'throttled', privateKey: device.private, readyTimeout: 5_000 });
    });
  }

  test('refuses a device while another connection holds the only handshake slot, admits it once that one goes', async () => {
    const staller = await stall();
    assert.equal(await login(), 'ECONNRESET');
    staller.destroy();
    await once(staller, 'close');
    // The gateway sees the close a moment after the client does.
    let result = await login();
    for (let i = 0; i < 20 && result !== 'ready'; i++) result = await login();
    assert.equal(result, 'ready');
  });

  test('a logged-in device does not hold a slot', async () => {
    // The device from the previous test is still logged in; a second one is let in too.
    assert.equal(await login(), 'ready');
  });
});
