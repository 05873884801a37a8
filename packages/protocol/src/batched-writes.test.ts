import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { batchWritesPerTick } from './batched-writes.ts';

/**
 * A connected pair on loopback whose client batches its writes; `batches` records what
 * Node hands the kernel (one _writev call per batch of more than one chunk).
 */
async function batchedPair(t: { after(fn: () => void): void }) {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  const [peer] = (await accepted) as [net.Socket];
  // A failed assertion must not leave the listener holding the test process open.
  t.after(() => {
    client.destroy();
    peer.destroy();
    server.close();
  });
  const received: Buffer[] = [];
  peer.on('data', (d: Buffer) => received.push(d));
  batchWritesPerTick(client);
  const batches: number[] = [];
  const writev = client._writev!.bind(client);
  client._writev = (chunks, cb) => {
    batches.push(chunks.length);
    writev(chunks, cb);
  };
  /** Everything the peer received, once the client has ended. */
  const all = async () => {
    client.end();
    await once(peer, 'end');
    return Buffer.concat(received).toString();
  };
  return { client, batches, all };
}

test("a tick's writes leave as one batch, in order, and the next tick's as another", async (t) => {
  const { client, batches, all } = await batchedPair(t);
  for (const part of ['SSH packet 1;', 'packet 2;', 'packet 3;']) client.write(part);
  await new Promise((r) => setImmediate(r));
  for (const part of ['packet 4;', 'packet 5;']) client.write(part);
  assert.equal(await all(), 'SSH packet 1;packet 2;packet 3;packet 4;packet 5;');
  assert.deepEqual(batches, [3, 2], 'three writes in the first tick, two in the next, each one writev');
});

test('writes from separate callbacks of one turn of the event loop leave together', async (t) => {
  const { client, batches, all } = await batchedPair(t);
  // Two callbacks of one phase of the loop, with the next-tick queue run between them, as
  // between the socket reads of one poll: one response packet written in each. Two
  // immediates queued together always share a check phase; two zero timers need not share
  // a timers phase (a millisecond can pass between creating them, as it did on a loaded CI).
  await new Promise<void>((resolve) => {
    setImmediate(() => client.write('response 1;'));
    setImmediate(() => {
      client.write('response 2;');
      resolve();
    });
  });
  assert.equal(await all(), 'response 1;response 2;');
  assert.deepEqual(batches, [2], 'both packets in one writev');
});

test('a small batch waits for the end of the turn, a full packet leaves at the end of the tick', async (t) => {
  const server = net.createServer((peer) => peer.resume());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  t.after(() => {
    client.destroy();
    server.close();
  });
  batchWritesPerTick(client);
  const nextTick = () => new Promise((resolve) => process.nextTick(resolve));

  client.write('a window adjust');
  await nextTick();
  assert.equal(client.writableCorked, 1, 'a small write is still held after the tick');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(client.writableCorked, 0, 'and sent at the end of the turn');

  client.write(Buffer.alloc(64 * 1024 + 20));
  await nextTick();
  assert.equal(client.writableCorked, 0, 'a full packet is sent at the end of the tick');
});
