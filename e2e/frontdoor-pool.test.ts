import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import client from 'prom-client';
import { TunnelClient } from '@p2pvps/agent/tunnel-client';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import { TunnelGateway } from '@p2pvps/server/gateway/tunnel-gateway';
import { FrontDoors } from '@p2pvps/server/frontdoor/front-doors';
import { TrafficMeter } from '@p2pvps/server/services/traffic';
import { portBlock, waitFor } from './harness.ts';
import { frontDoorTestLimits } from '@p2pvps/server/testing/front-door-limits';

/**
 * The HTTP front door keeps channels to a device's web port warm between visitors: the
 * real gateway, the agent's real tunnel client, and a scripted origin standing in for the
 * renter's web server, which numbers its connections (X-Conn) so a test can see which
 * one answered, and answers each path with one way of ending a response.
 */
const site = 'site.vps.test';
let rentalId = 'r1';
/** Stamped on connections the origin accepts, like a new container serving the name. */
let serving = 'r1';
let gateway: TunnelGateway;
let tunnel: TunnelClient;
let doors: FrontDoors;
let doorPort: number;
const registry = new client.Registry();

interface OriginConn {
  id: number;
  rental: string;
  socket: net.Socket;
  /** What happens to the next request on this connection (armed by /arm-*). */
  next: 'answer' | 'drop' | 'partial';
  closed: Promise<void>;
}
const conns: OriginConn[] = [];
const requests: string[] = [];

/** How the origin answers a path; `end` closes its side after. */
function answer(method: string, path: string, conn: OriginConn): { text: string; end?: boolean } {
  const id = `X-Conn: ${conn.id}\r\nX-Rental: ${conn.rental}`;
  switch (path) {
    case '/chunked':
      return {
        text: `HTTP/1.1 200 OK\r\n${id}\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n`,
      };
    case '/interim':
      return { text: `HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\n${id}\r\nContent-Length: 2\r\n\r\nok` };
    case '/no-content':
      return { text: `HTTP/1.1 204 No Content\r\n${id}\r\n\r\n` };
    case '/not-modified':
      return { text: `HTTP/1.1 304 Not Modified\r\n${id}\r\nContent-Length: 40\r\n\r\n` };
    case '/until-close':
      return { text: `HTTP/1.1 200 OK\r\n${id}\r\n\r\nthe rest of the stream`, end: true };
    case '/origin-closes':
      return { text: `HTTP/1.1 200 OK\r\n${id}\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok`, end: true };
    case '/http10':
      return { text: `HTTP/1.0 200 OK\r\n${id}\r\nContent-Length: 2\r\n\r\nok` };
    case '/garbage':
      return { text: `HTTP/1.1 200 OK\r\n${id}\r\nContent-Length: 2, 3\r\n\r\nok` };
    case '/slow':
      return { text: `HTTP/1.1 200 OK\r\n${id}\r\nContent-Length: 100000\r\n\r\nstart` };
    default: {
      const body = method === 'HEAD' ? '' : 'hello';
      return { text: `HTTP/1.1 200 OK\r\n${id}\r\nContent-Length: 5\r\n\r\n${body}` };
    }
  }
}

const origin = net.createServer((socket) => {
  const conn: OriginConn = {
    id: conns.length + 1,
    rental: serving,
    socket,
    next: 'answer',
    closed: new Promise((resolve) => socket.once('close', () => resolve())),
  };
  conns.push(conn);
  socket.on('error', () => {});
  let buffer = '';
  socket.on('data', (d: Buffer) => {
    buffer += d.toString('latin1');
    for (let end = buffer.indexOf('\r\n\r\n'); end >= 0; end = buffer.indexOf('\r\n\r\n')) {
      const head = buffer.slice(0, end);
      buffer = buffer.slice(end + 4);
      const [method = '', path = ''] = head.split(' ');
      requests.push(`${conn.id} ${head}`);
      if (conn.next === 'drop') return void socket.destroy();
      if (conn.next === 'partial') {
        socket.write('HTTP/1.1 200 OK\r\nContent-Le');
        return void socket.destroy();
      }
      if (path.startsWith('/arm-')) conn.next = path === '/arm-drop' ? 'drop' : 'partial';
      const { text, end: close } = answer(method, path, conn);
      // Like any HTTP/1.1 server, it closes after answering a request that asked it to.
      if (close || /\r\nConnection: close/i.test(head)) socket.end(text);
      else socket.write(text);
    }
  });
});

before(async () => {
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  const host = generateEd25519KeyPair('gateway');
  const device = generateEd25519KeyPair('device');
  const sshPort = portBlock(1);
  gateway = new TunnelGateway({
    hostKey: host.private,
    publicBindHost: '127.0.0.1',
    lookupDevice: async (id) => (id === 'dev1' ? { deviceId: 'dev1', publicKey: device.public, sshPort } : null),
  });
  const gatewayPort = await gateway.listen(0, '127.0.0.1');
  tunnel = new TunnelClient({
    registration: { deviceId: 'dev1', sshPort, gateway: { host: '127.0.0.1', port: gatewayPort, hostKey: host.public } },
    privateKey: device.private,
    localPort: 9,
    webPorts: new Map([[80, (origin.address() as net.AddressInfo).port]]),
    log: () => {},
  });
  tunnel.start();
  await waitFor('the tunnel', async () => gateway.isOnline('dev1'));
  doors = new FrontDoors({
    resolve: async (name) => (name === site ? { kind: 'device', deviceId: 'dev1', rentalId } : { kind: 'api' }),
    openChannel: (deviceId, port, address, remotePort) => gateway.openWebChannel(deviceId, port, address, remotePort),
    apiServer: http.createServer((_req, res) => res.end('api')),
    traffic: new TrafficMeter(registry),
    registry,
    limits: frontDoorTestLimits(1000),
    // Long enough that no idle channel times out during a test.
    originPool: { maxIdlePerDevice: 4, idleMs: 60_000 },
    log: { info() {}, warn() {} },
  });
  await new Promise<void>((resolve) => doors.http.listen(0, '127.0.0.1', resolve));
  doorPort = (doors.http.address() as net.AddressInfo).port;
});

after(async () => {
  await doors.close();
  tunnel.close();
  await gateway.close();
  for (const c of conns) c.socket.destroy();
  origin.close();
});

/**
 * A visitor's connection: sends `text`, reads until the front door closes it, or until
 * `until` matches and then leaves itself: with a FIN (`end`) or at once (`destroy`).
 */
async function visit(text: string, until?: RegExp, leave: 'end' | 'destroy' = 'end'): Promise<string> {
  const socket = net.connect(doorPort, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  let received = '';
  const done = new Promise<string>((resolve) => {
    socket.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      if (until?.test(received)) {
        if (leave === 'end') socket.end();
        else socket.destroy();
        resolve(received);
      }
    });
    socket.once('close', () => resolve(received));
  });
  socket.write(text);
  return done;
}

const get = (path: string, method = 'GET') => `${method} ${path} HTTP/1.1\r\nHost: ${site}\r\nConnection: close\r\n\r\n`;
const connOf = (response: string) => Number(/X-Conn: (\d+)/.exec(response)?.[1]);
const metric = async (name: string) => (await registry.getSingleMetric(name)!.get()).values.reduce((n, v) => n + v.value, 0);

/** A fresh start: no idle channel left from an earlier test. */
function reset(): void {
  doors.forgetDevice('dev1');
}

test('new connections per request reach the origin over one kept channel, and say Connection: close to each visitor', async () => {
  reset();
  const accepted = conns.length;
  const reusesBefore = await metric('p2pvps_frontdoor_channel_reuses_total');
  const answers: string[] = [];
  for (let i = 0; i < 10; i++) answers.push(await visit(get(`/page-${i}`)));
  for (const a of answers) {
    assert.match(
      a,
      /^HTTP\/1\.1 200 OK\r\n[^]*\r\nConnection: close\r\n\r\nhello$/,
      'each visitor gets its whole response and is told the connection closes',
    );
  }
  assert.equal(conns.length - accepted, 1, 'ten visitors, one connection accepted by the origin');
  assert.equal(new Set(answers.map(connOf)).size, 1);
  assert.equal((await metric('p2pvps_frontdoor_channel_reuses_total')) - reusesBefore, 9);
  const seen = requests.filter((r) => r.includes('/page-'));
  assert.ok(
    seen.every((r) => !/\r\nConnection: close/i.test(r) && /\r\nX-Forwarded-For: 127\.0\.0\.1/.test(r)),
    'the origin is asked to keep the connection, and every request says who connected',
  );
});

test('a keep-alive visitor gets a channel of its own, as before: it neither takes a kept channel nor leaves one behind', async () => {
  reset();
  const kept = connOf(await visit(get('/warm')));
  // Its responses are not read for where they end: the hot path of a kept-alive connection stays a plain pipe.
  const two = `GET /a HTTP/1.1\r\nHost: ${site}\r\n\r\nGET /b HTTP/1.1\r\nHost: ${site}\r\n\r\n`;
  const answer = await visit(two, /hello[^]*hello$/);
  assert.doesNotMatch(answer, /Connection: close/);
  assert.notEqual(connOf(answer), kept, 'a channel opened for it');
  const own = conns.find((c) => c.id === connOf(answer))!;
  await own.closed;
  assert.equal(await metric('p2pvps_frontdoor_idle_channels'), 1, 'the kept channel is still the only one');
  assert.equal(connOf(await visit(get('/c'))), kept);
});

/** Visits `path`; then a plain request shows whether that channel was kept (the same origin connection answers). */
async function keptAfter(request: string): Promise<{ answer: string; kept: boolean }> {
  reset();
  const answer = await visit(request);
  const next = await visit(get('/next'));
  return { answer, kept: connOf(next) === connOf(answer) };
}

test('responses delimited by length, chunks with trailers, interim 1xx, HEAD, 204 and 304 leave the channel reusable', async () => {
  const chunked = await keptAfter(get('/chunked'));
  assert.ok(chunked.kept, 'chunked');
  assert.match(chunked.answer, /\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n$/, 'the chunks and trailer arrive whole');
  assert.match(chunked.answer, /Connection: close\r\n/);
  const interim = await keptAfter(get('/interim'));
  assert.ok(interim.kept, '103 then 200');
  assert.match(interim.answer, /^HTTP\/1\.1 103 Early Hints\r\nLink: <\/a\.css>\r\n\r\nHTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok$/);
  const head = await keptAfter(get('/head', 'HEAD'));
  assert.ok(head.kept, 'HEAD, whose Content-Length has no body behind it');
  assert.match(head.answer, /Content-Length: 5\r\n[^]*\r\n\r\n$/);
  assert.ok((await keptAfter(get('/no-content'))).kept, '204');
  assert.ok((await keptAfter(get('/not-modified'))).kept, '304 with a Content-Length');
  assert.ok((await keptAfter(get('/length'))).kept, 'Content-Length');
});

test('a channel is not reused after a body that runs to the close, an origin that closes, HTTP/1.0 or framing it cannot read', async () => {
  const untilClose = await keptAfter(get('/until-close'));
  assert.equal(untilClose.kept, false);
  assert.match(untilClose.answer, /\r\n\r\nthe rest of the stream$/);
  const closes = await keptAfter(get('/origin-closes'));
  assert.equal(closes.kept, false);
  assert.match(closes.answer, /\r\n\r\nok$/);
  const old = await keptAfter(get('/http10'));
  assert.equal(old.kept, false, 'HTTP/1.0 without keep-alive');
  assert.match(old.answer, /^HTTP\/1\.0 200 OK[^]*ok$/);
  const garbage = await keptAfter(get('/garbage'));
  assert.equal(garbage.kept, false, 'a Content-Length with two values');
  assert.match(garbage.answer, /Content-Length: 2, 3\r\n[^]*\r\n\r\nok$/, 'passed on as it came');
});

test('requests with a body, upgrades and connection-bound authentication never take a kept channel nor leave theirs behind', async () => {
  reset();
  const kept = connOf(await visit(get('/warm')));
  const empty = `GET /empty HTTP/1.1\r\nHost: ${site}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
  assert.equal(connOf(await visit(empty)), kept, 'a Content-Length of 0 is no body');
  const ntlm = await visit(`GET /ntlm HTTP/1.1\r\nHost: ${site}\r\nAuthorization: NTLM TlRMTVNTUAABAAAA\r\nConnection: close\r\n\r\n`);
  assert.notEqual(connOf(ntlm), kept, 'NTLM authenticates the connection: it gets one of its own');
  const post = await visit(`POST /form HTTP/1.1\r\nHost: ${site}\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`);
  assert.notEqual(connOf(post), kept, 'the POST went on a channel of its own');
  assert.match(
    requests.find((r) => r.includes('POST /form'))!,
    /\r\nConnection: close/,
    'its Connection header untouched',
  );
  const upgrade = await visit(`GET /ws HTTP/1.1\r\nHost: ${site}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`, /hello$/);
  assert.notEqual(connOf(upgrade), kept);
  assert.equal(connOf(await visit(get('/after'))), kept, 'the kept channel was still there for the next GET');
});

test('a kept channel the origin closed before answering: the request goes once more on a new channel', async () => {
  reset();
  const retries = await metric('p2pvps_frontdoor_channel_retries_total');
  const armed = connOf(await visit(get('/arm-drop')));
  const answer = await visit(get('/replayed'));
  assert.match(answer, /^HTTP\/1\.1 200 OK[^]*hello$/);
  assert.notEqual(connOf(answer), armed);
  assert.equal(requests.filter((r) => r.includes('/replayed')).length, 2, 'seen on the closed channel, then on the new one');
  assert.equal((await metric('p2pvps_frontdoor_channel_retries_total')) - retries, 1);
});

test('never sent again once an answer began: the visitor gets what came, then the close', async () => {
  reset();
  await visit(get('/arm-partial'));
  const answer = await visit(get('/once'));
  assert.equal(answer, 'HTTP/1.1 200 OK\r\nContent-Le');
  assert.equal(requests.filter((r) => r.includes('/once')).length, 1);
});

test('a visitor that leaves mid-response closes that channel; it is not handed on', async () => {
  reset();
  const partial = connOf(await visit(get('/slow'), /start$/, 'destroy'));
  const conn = conns.find((c) => c.id === partial)!;
  await conn.closed;
  assert.notEqual(connOf(await visit(get('/next'))), conn.id);
});

test('kept channels belong to one rental: a new rental gets new connections, and forgetting the device closes them', async () => {
  reset();
  const first = connOf(await visit(get('/r1')));
  const old = conns.find((c) => c.id === first)!;
  assert.equal(await metric('p2pvps_frontdoor_idle_channels'), 1);
  // The rental ends and another begins: the route names a new rental, the device serves a new container.
  rentalId = 'r2';
  serving = 'r2';
  const next = await visit(get('/r2'));
  assert.match(next, /X-Rental: r2/, 'answered by a connection opened for the new rental');
  await old.closed;
  const kept = conns.find((c) => c.id === connOf(next))!;
  assert.equal(await metric('p2pvps_frontdoor_idle_channels'), 1);
  // What the server does when a rental starts or ends, or the device's tunnel goes: forget its channels.
  doors.forgetDevice('dev1');
  await kept.closed;
  assert.equal(await metric('p2pvps_frontdoor_idle_channels'), 0);
  assert.notEqual(connOf(await visit(get('/r2-again'))), kept.id);
});

test('a visitor told Connection: close finds its connection closed, not half-open: no slot is held while it leaves its side open', async () => {
  reset();
  // Earlier tests' visitors may still be closing.
  await waitFor('no connection open', async () => (await metric('p2pvps_frontdoor_connections_open')) === 0);
  const socket = net.connect({ port: doorPort, host: '127.0.0.1', allowHalfOpen: true });
  socket.on('error', () => {});
  await once(socket, 'connect');
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  // Read the moment the FIN arrives: the front door has closed its side whole already, not
  // just sent its FIN and kept the socket open (and counted) until the visitor sends its own.
  const openAtEnd = new Promise<number>((resolve) => socket.once('end', () => resolve(metric('p2pvps_frontdoor_connections_open'))));
  socket.write(get('/closed-at-once'));
  assert.equal(await openAtEnd, 0);
  assert.match(received, /^HTTP\/1\.1 200 OK\r\n[^]*\r\nConnection: close\r\n\r\nhello$/, 'the whole response, then the FIN');
  socket.destroy();
});
