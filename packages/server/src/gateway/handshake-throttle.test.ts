import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import ssh2 from 'ssh2';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import { HandshakeThrottle, type HandshakeThrottleOptions } from './handshake-throttle.ts';
import { TunnelGateway } from './tunnel-gateway.ts';

/** A throttle with no early drop (start = full) unless the test asks for one. */
function throttle(full: number, more: Partial<HandshakeThrottleOptions> = {}): HandshakeThrottle {
  return new HandshakeThrottle({ maxStartups: { start: full, rate: 0, full }, perSource: full, ...more });
}

test('admits up to the cap, refuses beyond it, and counts the refusals', () => {
  const t = throttle(2);
  const a = t.tryAcquire('a');
  const b = t.tryAcquire('b');
  assert.equal(typeof a, 'function');
  assert.equal(typeof b, 'function');
  assert.equal(t.tryAcquire('c'), 'full');
  assert.equal(t.tryAcquire('d'), 'full');
  assert.equal(t.inFlight, 2);
  assert.equal(t.refused('full'), 2);
  assert.equal(t.refused(), 2);
});

test('a released slot admits the next handshake', () => {
  const t = throttle(1);
  const first = t.tryAcquire('a');
  assert.ok(typeof first === 'function');
  assert.equal(t.tryAcquire('a'), 'full');
  first();
  assert.equal(typeof t.tryAcquire('a'), 'function');
});

test('releasing twice frees only one slot (login and close both release)', () => {
  const t = throttle(2);
  const a = t.tryAcquire('a') as () => void;
  t.tryAcquire('a');
  a();
  a();
  assert.equal(t.inFlight, 1);
  assert.equal(typeof t.tryAcquire('a'), 'function');
  assert.equal(t.tryAcquire('a'), 'full');
});

test('one source gets at most its share; other sources still get in', () => {
  const t = throttle(10, { perSource: 3 });
  const held = [t.tryAcquire('flood'), t.tryAcquire('flood'), t.tryAcquire('flood')];
  assert.ok(held.every((h) => typeof h === 'function'));
  assert.equal(t.tryAcquire('flood'), 'per-source');
  assert.equal(typeof t.tryAcquire('device'), 'function');
  (held[0] as () => void)();
  assert.equal(typeof t.tryAcquire('flood'), 'function', 'a released slot is the source’s again');
  assert.equal(t.sources, 2);
});

test('random early drop: none below start, rate% at start, rising to all at full (sshd’s formula)', () => {
  let roll = 0;
  const t = new HandshakeThrottle({ maxStartups: { start: 2, rate: 30, full: 6 }, perSource: 10, random: () => roll });
  roll = 0; // the unluckiest roll is still admitted below start
  t.tryAcquire('s');
  t.tryAcquire('s');
  // At start (2 pending): 30% are dropped. A roll of 0.29 is among them, 0.30 is not.
  roll = 0.29;
  assert.equal(t.tryAcquire('s'), 'early-drop');
  roll = 0.3;
  assert.equal(typeof t.tryAcquire('s'), 'function');
  // 3 of 6 pending: 30 + 70 × 1/4 = 47.5%.
  roll = 0.47;
  assert.equal(t.tryAcquire('s'), 'early-drop');
  roll = 0.48;
  assert.equal(typeof t.tryAcquire('s'), 'function');
  // 4 pending: 65%, so a high roll gets in; then 5 of 6: 30 + 70 × 3/4 = 82.5%; at full, all.
  roll = 0.66;
  assert.equal(typeof t.tryAcquire('s'), 'function');
  roll = 0.82;
  assert.equal(t.tryAcquire('s'), 'early-drop');
  roll = 0.83;
  assert.equal(typeof t.tryAcquire('s'), 'function');
  roll = 0.999;
  assert.equal(t.tryAcquire('s'), 'full');
  assert.equal(t.refused('early-drop'), 3);
});

test('rejects caps that would refuse everything or make no sense', () => {
  assert.throws(() => throttle(0), RangeError);
  assert.throws(() => throttle(1.5), RangeError);
  assert.throws(() => new HandshakeThrottle({ maxStartups: { start: 5, rate: 30, full: 4 }, perSource: 1 }), RangeError);
  assert.throws(() => new HandshakeThrottle({ maxStartups: { start: 1, rate: 101, full: 4 }, perSource: 1 }), RangeError);
  assert.throws(() => throttle(4, { perSource: 0 }), RangeError);
});

describe('the gateway with a handshake cap', () => {
  const hostKey = generateEd25519KeyPair('gateway@test').private;
  const device = generateEd25519KeyPair('device@test');
  const gateway = new TunnelGateway({
    hostKey,
    publicBindHost: '127.0.0.1',
    lookupDevice: async (id) => (id === 'throttled' ? { deviceId: id, publicKey: device.public, sshPort: 1 } : null),
    maxStartups: { start: 1, rate: 0, full: 1 },
    // The refused login below must not earn 127.0.0.1 a penalty that refuses the next one.
    penalties: null,
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
