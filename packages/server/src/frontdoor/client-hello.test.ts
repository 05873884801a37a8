import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { parseClientHello } from './client-hello.ts';

/** The first bytes a real TLS client sends: Node's own TLS stack, connecting to a listener that only records. */
async function captureHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const received = new Promise<Buffer>((resolve) => {
    server.once('connection', (socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => {
        chunks.push(c);
        const all = Buffer.concat(chunks);
        if (parseClientHello(all).kind !== 'incomplete' || all.length > 64 * 1024) {
          resolve(all);
          socket.destroy();
        }
      });
    });
  });
  const client = tls.connect({
    host: '127.0.0.1',
    port: (server.address() as net.AddressInfo).port,
    rejectUnauthorized: false,
    ...options,
  });
  client.on('error', () => {});
  const hello = await received;
  client.destroy();
  server.close();
  return hello;
}

test('the SNI name is read from a real ClientHello, TLS 1.3 and 1.2', async () => {
  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    const hello = await captureHello({ servername: 'K3x9q.vps.example.org', maxVersion });
    assert.deepEqual(parseClientHello(hello), { kind: 'hello', serverName: 'k3x9q.vps.example.org' }, maxVersion);
  }
});

test('every prefix of a ClientHello is incomplete, never a wrong answer', async () => {
  const hello = await captureHello({ servername: 'a.vps.test' });
  for (let n = 0; n < hello.length; n++) assert.deepEqual(parseClientHello(hello.subarray(0, n)), { kind: 'incomplete' }, `prefix ${n}`);
});

test('a ClientHello split over several TLS records is reassembled', async () => {
  const hello = await captureHello({ servername: 'split.vps.test' });
  const body = hello.subarray(5);
  const cut = 40;
  const record = (fragment: Buffer) => Buffer.concat([Buffer.from([22, 3, 1, fragment.length >> 8, fragment.length & 0xff]), fragment]);
  const twoRecords = Buffer.concat([record(body.subarray(0, cut)), record(body.subarray(cut))]);
  assert.deepEqual(parseClientHello(twoRecords), { kind: 'hello', serverName: 'split.vps.test' });
});

test('no SNI, plain HTTP and garbage are told apart from a hello', async () => {
  const noSni = await captureHello({});
  assert.deepEqual(parseClientHello(noSni), { kind: 'hello', serverName: null });
  assert.deepEqual(parseClientHello(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n')), { kind: 'not_tls' });
  assert.deepEqual(
    parseClientHello(Buffer.from([22, 3, 1, 0, 4, 2, 0, 0, 0])),
    { kind: 'not_tls' },
    'a handshake that is not a ClientHello',
  );
  const truncatedInside = Buffer.from([22, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0]);
  assert.deepEqual(parseClientHello(truncatedInside), { kind: 'not_tls' }, 'lengths that point past the message');
});

test('a name with a byte above 0x7f is no name at all, not the name with the high bit cleared', async () => {
  // The same ClientHello twice, with its SNI name's first byte changed in place: "xbc" → 0xE1 "bc".
  const hello = await captureHello({ servername: 'xbc.vps.test' });
  const at = hello.indexOf('xbc.vps.test');
  assert.ok(at > 0);
  const highBit = Buffer.from(hello);
  highBit[at] = 0xe1;
  assert.deepEqual(parseClientHello(hello), { kind: 'hello', serverName: 'xbc.vps.test' });
  assert.deepEqual(parseClientHello(highBit), { kind: 'hello', serverName: null }, 'E1 62 63 must not route as "abc"');
});
