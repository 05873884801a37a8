import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseFramer, type ExpectedResponse } from './response-framing.ts';

/** Feeds `wire` in pieces of `step` bytes; returns what was passed on, how many responses completed, and whether the connection may be reused. */
function read(wire: string, requests: ExpectedResponse[], step: number) {
  const queue = [...requests];
  let completed = 0;
  const framer = new ResponseFramer(
    () => queue[0],
    () => {
      queue.shift();
      completed++;
    },
  );
  let out = '';
  for (let i = 0; i < wire.length; i += step) {
    for (const b of framer.feed(Buffer.from(wire.slice(i, i + step), 'latin1'))) out += b.toString('latin1');
  }
  return { out, completed, reusable: framer.reusable, delimited: framer.delimited };
}

const get: ExpectedResponse = { method: 'GET', close: false };

test('every way a response ends is found, however the bytes are cut', () => {
  const cases: [string, string, ExpectedResponse[], number][] = [
    ['length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello', [get], 1],
    ['chunked with trailers', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\n', [get], 1],
    [
      'interim then final',
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: <x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
      [get],
      1,
    ],
    ['HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n', [{ method: 'HEAD', close: false }], 1],
    ['204 and 304', 'HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n', [get, get], 2],
    ['HTTP/1.0 keep-alive', 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok', [get], 1],
  ];
  for (const [name, wire, requests, responses] of cases) {
    for (const step of [1, 3, wire.length]) {
      const r = read(wire, requests, step);
      assert.equal(r.out, wire, `${name}: passed on unchanged (pieces of ${step})`);
      assert.equal(r.completed, responses, `${name}: complete`);
      assert.equal(r.reusable, true, `${name}: reusable`);
    }
  }
});

test('a connection whose end cannot be known, or whose origin closes it, is not reusable', () => {
  const cases: [string, string][] = [
    ['no length', 'HTTP/1.1 200 OK\r\n\r\nuntil close'],
    ['Connection: close', 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'],
    ['HTTP/1.0', 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok'],
    ['two lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok'],
    ['length and chunked', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok'],
    ['a space before the colon', 'HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\nContent-Length: 2\r\n\r\nok'],
    ['bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['not HTTP', 'SSH-2.0-OpenSSH\r\n\r\n'],
    ['101', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nraw'],
    ['more than was asked', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
  ];
  for (const [name, wire] of cases) {
    const r = read(wire, [get], 1);
    assert.equal(r.out, wire, `${name}: every byte passed on`);
    assert.equal(r.reusable, false, name);
  }
});

test('a visitor that asked to close is told so in the final head; the origin’s own connection options are dropped', () => {
  const wire =
    'HTTP/1.1 103 Early Hints\r\nLink: <x>\r\n\r\nHTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok';
  const r = read(wire, [{ method: 'GET', close: true }], 4);
  assert.equal(r.out, 'HTTP/1.1 103 Early Hints\r\nLink: <x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
  assert.equal(r.completed, 1);
  assert.equal(r.reusable, true, 'the origin did not say close: the channel can serve another visitor');
});
