import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpFramingError, RequestFramer, requestHost, serializeHead, type RequestHead } from './http-framing.ts';

/**
 * Feeds `input` through a framer in pieces of `step` bytes; returns the output and the heads
 * seen. `firstStatus`: the origin's answer to the first request, given once everything is written.
 */
async function frame(input: string, step = input.length, maxHeadBytes = 16 * 1024, firstStatus?: number) {
  const heads: RequestHead[] = [];
  const framer = new RequestFramer({
    maxHeadBytes,
    rewrite: (head) => {
      heads.push(head);
      return serializeHead({ ...head, headers: [...head.headers, ['X-Seen', String(heads.length)]] });
    },
  });
  const out: Buffer[] = [];
  framer.on('data', (c: Buffer) => out.push(c));
  const done = new Promise<void>((resolve, reject) => {
    framer.on('end', resolve);
    framer.on('error', reject);
  });
  const bytes = Buffer.from(input, 'latin1');
  for (let i = 0; i < bytes.length; i += step) framer.write(bytes.subarray(i, i + step));
  if (firstStatus !== undefined) framer.firstResponse(firstStatus);
  framer.end();
  await done;
  return { output: Buffer.concat(out).toString('latin1'), heads };
}

test('every request on a keep-alive connection is rewritten, whatever the packet boundaries', async () => {
  const input =
    'GET /a HTTP/1.1\r\nHost: x.vps.test\r\n\r\n' +
    'POST /b HTTP/1.1\r\nHost: x.vps.test\r\nContent-Length: 5\r\n\r\nhello' +
    'GET /c HTTP/1.1\r\nHost: x.vps.test\r\n\r\n';
  for (const step of [1, 3, 7, input.length]) {
    const { output, heads } = await frame(input, step);
    assert.deepEqual(
      heads.map((h) => h.target),
      ['/a', '/b', '/c'],
    );
    assert.equal(
      output,
      'GET /a HTTP/1.1\r\nHost: x.vps.test\r\nX-Seen: 1\r\n\r\n' +
        'POST /b HTTP/1.1\r\nHost: x.vps.test\r\nContent-Length: 5\r\nX-Seen: 2\r\n\r\nhello' +
        'GET /c HTTP/1.1\r\nHost: x.vps.test\r\nX-Seen: 3\r\n\r\n',
      `step ${step}`,
    );
  }
});

test('a body that looks like a request is passed through as body, not taken for a request', async () => {
  const smuggled = 'GET /admin HTTP/1.1\r\nHost: other.vps.test\r\n\r\n';
  const input = `POST /up HTTP/1.1\r\nHost: x.vps.test\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`;
  const { heads, output } = await frame(input, 5);
  assert.equal(heads.length, 1);
  assert.ok(output.endsWith(smuggled));
});

test('chunked bodies with extensions and trailers are followed to their end', async () => {
  const body = '5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n';
  const input = `POST /c HTTP/1.1\r\nHost: x.vps.test\r\nTransfer-Encoding: chunked\r\n\r\n${body}GET /next HTTP/1.1\r\nHost: x.vps.test\r\n\r\n`;
  for (const step of [1, 4, input.length]) {
    const { heads, output } = await frame(input, step);
    assert.deepEqual(
      heads.map((h) => h.target),
      ['/c', '/next'],
    );
    assert.ok(output.includes(body));
  }
});

test('a connection the origin upgraded (101) passes everything after its head through untouched', async () => {
  const input =
    'GET /ws HTTP/1.1\r\nHost: x.vps.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /not-a-request HTTP/1.1\r\n\r\n';
  const { heads, output } = await frame(input, 2, 16 * 1024, 101);
  assert.equal(heads.length, 1);
  assert.ok(output.endsWith('GET /not-a-request HTTP/1.1\r\n\r\n'));
});

test('after an upgrade the origin declined, what follows is read as requests again and rewritten', async () => {
  // The audit's probe: a second request hidden behind an upgrade, with a spoofed client address.
  const input =
    'GET / HTTP/1.1\r\nHost: x.vps.test\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n' +
    'GET /x HTTP/1.1\r\nHost: x.vps.test\r\nX-Real-IP: 10.0.0.1\r\n\r\n';
  for (const status of [200, 426, 400]) {
    const { heads, output } = await frame(input, 7, 16 * 1024, status);
    assert.deepEqual(
      heads.map((h) => h.target),
      ['/', '/x'],
      `status ${status}`,
    );
    assert.ok(output.endsWith('GET /x HTTP/1.1\r\nHost: x.vps.test\r\nX-Real-IP: 10.0.0.1\r\nX-Seen: 2\r\n\r\n'));
  }
  // Nothing after the upgrade request is passed on before the origin has answered.
  const framer = new RequestFramer({ maxHeadBytes: 1024, rewrite: (head) => serializeHead(head) });
  const out: Buffer[] = [];
  framer.on('data', (c: Buffer) => out.push(c));
  framer.write(Buffer.from(input, 'latin1'));
  await new Promise((r) => setImmediate(r));
  assert.equal(Buffer.concat(out).toString('latin1'), 'GET / HTTP/1.1\r\nHost: x.vps.test\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n');
});

test('only the first request may upgrade: a later Upgrade header is removed, a later CONNECT refused', async () => {
  const input =
    'GET /a HTTP/1.1\r\nHost: x.vps.test\r\n\r\n' +
    'GET /ws HTTP/1.1\r\nHost: x.vps.test\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n' +
    'GET /c HTTP/1.1\r\nHost: x.vps.test\r\n\r\n';
  const { heads, output } = await frame(input, 5, 16 * 1024, 101);
  assert.deepEqual(
    heads.map((h) => h.target),
    ['/a', '/ws', '/c'],
  );
  assert.ok(output.includes('GET /ws HTTP/1.1\r\nHost: x.vps.test\r\nConnection: keep-alive\r\nX-Seen: 2\r\n\r\n'));
  await assert.rejects(
    frame('GET /a HTTP/1.1\r\nHost: a\r\n\r\nCONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n'),
    (err: unknown) => err instanceof HttpFramingError && err.status === 400,
  );
});

test('every head that arrives in pieces is announced when it starts and when it is complete', async () => {
  const framer = new RequestFramer({ maxHeadBytes: 1024, rewrite: (head) => serializeHead(head) });
  const events: string[] = [];
  framer.on('head-started', () => events.push('started'));
  framer.on('head-finished', () => events.push('finished'));
  framer.resume();
  const write = async (s: string) => {
    framer.write(Buffer.from(s, 'latin1'));
    await new Promise((r) => setImmediate(r));
  };
  await write('GET /a HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.deepEqual(events, [], 'a head that arrives whole needs no deadline');
  await write('GET /b HTTP/1.1\r\n');
  assert.deepEqual(events, ['started']);
  await write('Host: a\r\n');
  assert.deepEqual(events, ['started'], 'more of the same head');
  await write('\r\nGET /c');
  assert.deepEqual(events, ['started', 'finished', 'started'], 'the next head has its own deadline');
  await write(' HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.deepEqual(events, ['started', 'finished', 'started', 'finished']);
});

test('ambiguous or hostile framing is refused with the status the front door answers', async () => {
  const cases: [string, number][] = [
    ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: a\r\n folded: header\r\n\r\n', 400],
    ['GET / HTTP/2.0\r\nHost: a\r\n\r\n', 400],
    [`GET / HTTP/1.1\r\nHost: a\r\nX: ${'y'.repeat(2000)}\r\n\r\n`, 431],
    [`GET / HTTP/1.1\r\nX: ${'y'.repeat(2000)}`, 431],
    // Control characters an origin might read as line ends or string ends (the audit's L1).
    ['GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\rX-B: 2\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u0000b\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u007fb\r\n\r\n', 400],
    ['GET /a\nb HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['GET /a\u0000b HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    // Chunk data longer than its size, and a bare LF in a chunk line.
    ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;x\ny\r\nhi\r\n0\r\n\r\n', 400],
  ];
  for (const [input, status] of cases) {
    await assert.rejects(
      frame(input, 64, 1024),
      (err: unknown) => err instanceof HttpFramingError && err.status === status,
      input.slice(0, 60),
    );
  }
});

test('the host is read without port, case or trailing dot, and must be single', async () => {
  const host = async (headers: string) => {
    const { heads } = await frame(`GET / HTTP/1.1\r\n${headers}\r\n\r\n`);
    return requestHost(heads[0] as RequestHead);
  };
  assert.equal(await host('Host: AbC.Vps.Test.:8080'), 'abc.vps.test');
  assert.equal(await host('Host: [::1]:80'), '[::1]');
  assert.equal(await host('Host: a.vps.test\r\nHost: b.vps.test'), null);
  assert.equal(await host('X-Other: 1'), null);
  assert.equal(await host('Host: a b'), null);
});

test('tabs and bytes above 0x7f in header values are fine', async () => {
  const { heads } = await frame('GET /caf\u00e9 HTTP/1.1\r\nHost: a\r\nX-A: one\ttwo \r\nX-B: caf\u00e9\r\n\r\n');
  assert.deepEqual(heads[0]?.headers, [
    ['Host', 'a'],
    ['X-A', 'one\ttwo'],
    ['X-B', 'caf\u00e9'],
  ]);
});
