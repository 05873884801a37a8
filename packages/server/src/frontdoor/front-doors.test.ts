import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import client from 'prom-client';
import { TrafficMeter } from '../services/traffic.ts';
import { WebOrigin } from '../testing/web-origin.ts';
import { FrontDoors, type FrontDoorLimits, type Route } from './front-doors.ts';
import { frontDoorTestLimits } from '../testing/front-door-limits.ts';

/**
 * The HTTP front door with real sockets: visitors connect from 127.0.0.1 and 127.0.0.2,
 * device names lead to a lenient origin (standing in for a renter's web server behind
 * the tunnel), and every other name to a plain HTTP server standing in for the API.
 */
const routes: Record<string, Route> = {
  'site.vps.test': { kind: 'device', deviceId: 'd1', rentalId: 'r1' },
  'other.vps.test': { kind: 'device', deviceId: 'd2', rentalId: 'r2' },
};
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

async function startDoors(limits: Partial<FrontDoorLimits> = {}) {
  const origin = new WebOrigin();
  const originPort = await origin.listen();
  const api = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('api here'));
  });
  const registry = new client.Registry();
  const doors = new FrontDoors({
    resolve: async (host) => (host !== null && routes[host]) || { kind: 'api' },
    openChannel: async () => {
      const channel = net.connect(originPort, '127.0.0.1');
      await once(channel, 'connect');
      return channel;
    },
    apiServer: api,
    traffic: new TrafficMeter(registry),
    registry,
    limits: frontDoorTestLimits(100, limits),
    log: { info() {}, warn() {} },
  });
  await new Promise<void>((resolve) => doors.http.listen(0, '127.0.0.1', resolve));
  const port = (doors.http.address() as net.AddressInfo).port;
  const close = async () => {
    await doors.close();
    await origin.close();
  };
  cleanups.push(close);
  return { port, origin, registry, close };
}

/** A visitor's connection, from `from`, that collects everything it is sent. */
async function visit(port: number, from = '127.0.0.1') {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: from });
  socket.on('error', () => {});
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  // Not events.once: it would reject on the ECONNRESET a refused visitor may see.
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  await once(socket, 'connect');
  cleanups.push(async () => void socket.destroy());
  return {
    socket,
    closed,
    received: () => received,
    /** Sends `text` and waits until the answers so far contain `expect`. */
    async send(text: string, expect: RegExp): Promise<string> {
      socket.write(text);
      while (!expect.test(received)) {
        if (socket.destroyed) throw new Error(`closed before ${expect}; got ${JSON.stringify(received)}`);
        await Promise.race([new Promise((r) => socket.once('data', r)), closed]);
      }
      return received;
    },
  };
}

const get = (host: string, path = '/') => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes `text` a few bytes at a time; stops early when the socket closes. True if all of it was written. */
async function trickle(socket: net.Socket, text: string, bytes: number, everyMs: number): Promise<boolean> {
  for (let i = 0; i < text.length; i += bytes) {
    if (socket.destroyed || socket.closed) return false;
    socket.write(text.slice(i, i + bytes));
    await sleep(everyMs);
  }
  return !socket.destroyed;
}

test('connections handed to the API count against the front door cap', async () => {
  const { port } = await startDoors({ maxConnections: 3 });
  for (let i = 0; i < 3; i++) await (await visit(port)).send(get('127.0.0.1'), /api here/);
  const fourth = await visit(port);
  fourth.socket.write(get('127.0.0.1'));
  assert.equal(await fourth.closed, '', 'turned away without an answer while three API connections are open');
});

test('one address cannot take every connection: a cap per source, the API included', async () => {
  const { port } = await startDoors({ maxConnectionsPerAddress: 2 });
  const held = [await visit(port), await visit(port)];
  await held[0]!.send(get('127.0.0.1'), /api here/);
  await held[1]!.send(get('site.vps.test'), /saw GET/);
  const third = await visit(port);
  third.socket.write(get('127.0.0.1'));
  assert.equal(await third.closed, '', 'a third connection from 127.0.0.1 is turned away');
  const elsewhere = await visit(port, '127.0.0.2');
  assert.match(await elsewhere.send(get('127.0.0.1'), /api here/), /200 OK/, 'another address is served');
  held[0]!.socket.destroy();
  await held[0]!.closed;
  // The server sees the close a moment after the client: try until the slot is back.
  for (let attempt = 0; ; attempt++) {
    const again = await visit(port);
    again.socket.write(get('127.0.0.1'));
    if (/api here/.test(await Promise.race([again.closed, sleep(200).then(() => again.received())]))) break;
    again.socket.destroy();
    assert.ok(attempt < 20, 'a closed connection gives its slot back');
  }
});

test("one address holding its share of a device's connections does not stop another address", async () => {
  const { port } = await startDoors({ maxConnectionsPerDevice: 3, maxConnectionsPerDeviceAddress: 2 });
  for (let i = 0; i < 2; i++) await (await visit(port)).send(get('site.vps.test'), /saw GET/);
  const third = await visit(port);
  assert.match(await third.send(get('site.vps.test'), /X-P2PVPS-Error/), /^HTTP\/1\.1 503[^]*X-P2PVPS-Error: device_busy/);
  assert.match(await (await visit(port)).send(get('other.vps.test'), /saw GET/), /200 OK/, 'the same address still reaches another device');
  const elsewhere = await visit(port, '127.0.0.2');
  assert.match(await elsewhere.send(get('site.vps.test'), /saw GET/), /200 OK/, 'another address reaches the device');
});

test('every request head on a keep-alive connection has the head deadline, counted from its first byte', async () => {
  const { port, origin } = await startDoors({ headTimeoutMs: 300 });
  const v = await visit(port);
  await v.send(get('site.vps.test', '/first'), /saw GET \/first/);
  await sleep(500);
  await v.send(get('site.vps.test', '/after-a-pause'), /saw GET \/after-a-pause/);
  const finished = await trickle(v.socket, get('site.vps.test', '/trickled'), 1, 30);
  await v.closed;
  assert.equal(finished, false, 'the connection was closed while the head trickled in');
  assert.deepEqual(
    origin.seen.map((r) => r.line),
    ['GET /first HTTP/1.1', 'GET /after-a-pause HTTP/1.1'],
  );
});

test('a request body sent too slowly is cut; a fast one passes', async () => {
  const { port, origin } = await startDoors({ headTimeoutMs: 200, minBodyBytes: 1000 });
  const body = 'x'.repeat(400);
  const slow = await visit(port);
  slow.socket.write(`POST /slow HTTP/1.1\r\nHost: site.vps.test\r\nContent-Length: ${body.length}\r\n\r\n`);
  assert.equal(await trickle(slow.socket, body, 10, 50), false, 'cut while the body trickled in');
  const big = 'y'.repeat(200_000);
  const fast = await visit(port);
  await fast.send(`POST /fast HTTP/1.1\r\nHost: site.vps.test\r\nContent-Length: ${big.length}\r\n\r\n${big}`, /saw POST \/fast/);
  assert.deepEqual(
    origin.seen.map((r) => [r.line, r.body.length]),
    [['POST /fast HTTP/1.1', big.length]],
  );
});

test('a request behind an upgrade the origin declined is still rewritten (the audit probe)', async () => {
  const { port, origin } = await startDoors();
  const v = await visit(port);
  await v.send(
    'GET / HTTP/1.1\r\nHost: site.vps.test\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n' +
      'GET /x HTTP/1.1\r\nHost: site.vps.test\r\nX-Real-IP: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n',
    /saw GET \/x/,
  );
  const smuggled = origin.seen[1];
  assert.equal(smuggled?.line, 'GET /x HTTP/1.1');
  assert.equal(smuggled.headers['x-real-ip'], '127.0.0.1', 'the visitor’s own claim is replaced');
  assert.equal(smuggled.headers['x-forwarded-for'], '127.0.0.1');
});

test('an upgrade the origin accepts (101) becomes a tunnel both ways', async () => {
  const { port } = await startDoors();
  const v = await visit(port);
  await v.send('GET /ws HTTP/1.1\r\nHost: site.vps.test\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n', /101 Switching/);
  const raw = 'not http at all\r\n\r\nGET /nope HTTP/1.1\r\n\r\n';
  assert.ok((await v.send(raw, /GET \/nope HTTP\/1\.1\r\n\r\n$/)).endsWith(`\r\n\r\n${raw}`));
});

test('a control character inside a header value is refused before anything reaches the origin', async () => {
  const { port, origin } = await startDoors();
  const v = await visit(port);
  const answer = await v.send('GET / HTTP/1.1\r\nHost: site.vps.test\r\nX-A: 1\nTransfer-Encoding: chunked\r\n\r\n', /bad_request/);
  assert.match(answer, /^HTTP\/1\.1 400/);
  assert.equal(origin.seen.length, 0);
});

test('an idle keep-alive connection is closed after the idle timeout', async () => {
  const { port } = await startDoors({ idleTimeoutMs: 300 });
  const v = await visit(port);
  await v.send(get('site.vps.test'), /saw GET/);
  assert.match(await v.closed, /saw GET \/ HTTP/);
});
