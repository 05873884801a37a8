import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApiError } from '@p2pvps/protocol/client';
import { EventStream } from './event-stream.ts';

/** A stand-in for the server (or whatever answers in its place) on loopback, answering the event stream as `answer` says. */
async function fakeServer(answer: (res: http.ServerResponse, n: number) => void) {
  let connections = 0;
  const server = http.createServer((req, res) => answer(res, ++connections));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

async function until(what: string, probe: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !probe(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(probe(), what);
}

test('an event block that never ends is not buffered without bound: the stream is dropped and opened again', async () => {
  const events: string[] = [];
  const server = await fakeServer((res, n) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    if (n === 1)
      res.write(`data: ${'x'.repeat(200_000)}`); // no blank line, ever
    else res.write('data: {"type":"sync","reason":"hello"}\n\n');
  });
  const stream = new EventStream({
    serverUrl: server.url,
    sign: () => 'P2PVPS-Device id=x,ts=1,sig=AA',
    onEvent: (e) => events.push(e.reason),
    onRefused: () => assert.fail('not refused'),
    log: () => undefined,
  });
  stream.start();
  try {
    await until('the stream reconnected and got the next event', () => server.connections() >= 2 && events.includes('hello'));
  } finally {
    stream.close();
    server.close();
  }
});

test('a 401 without the server envelope is handed on as what it is, not as a revocation', async () => {
  const refusals: ApiError[] = [];
  const server = await fakeServer((res) => res.writeHead(401, { 'content-type': 'text/plain' }).end('Unauthorized'));
  const stream = new EventStream({
    serverUrl: server.url,
    sign: () => 'P2PVPS-Device id=x,ts=1,sig=AA',
    onEvent: () => undefined,
    onRefused: (err) => refusals.push(err),
    log: () => undefined,
  });
  stream.start();
  try {
    await until('a refusal', () => refusals.length >= 1);
    assert.equal(refusals[0]!.status, 401);
    assert.equal(refusals[0]!.code, 'bad_response');
  } finally {
    stream.close();
    server.close();
  }
});
