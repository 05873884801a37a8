import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { connectWithPacketReads, readsOnlyInto } from './socket-reads.ts';

/** A server that sends `parts` one at a time, each once the client says it has the one before. */
async function sender(parts: string[]) {
  const server = net.createServer((peer) => {
    let next = 0;
    const send = () => (next < parts.length ? peer.write(parts[next++]!) : peer.end());
    peer.on('data', send);
    send();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as net.AddressInfo).port };
}

const parts = ['HTTP/1.1 200 OK first', 'second response', 'a third, longer response than the others', 'fourth'];

/** Reads every part through connectWithPacketReads into `sink` (its sole sink); the buffers the reads landed in. */
async function readAllInto(port: number, sink: Writable): Promise<Set<ArrayBufferLike>> {
  const socket = connectWithPacketReads({ host: '127.0.0.1', port });
  const memory = new Set<ArrayBufferLike>();
  readsOnlyInto(socket, sink);
  socket.on('data', (d: Buffer) => {
    memory.add(d.buffer);
    sink.write(d);
    socket.write('next');
  });
  await once(socket, 'end');
  socket.destroy();
  return memory;
}

test('small reads taken whole by their sole sink reuse one buffer, and each arrives as sent', async (t) => {
  const { server, port } = await sender(parts);
  t.after(() => server.close());
  const taken: string[] = [];
  // Takes a copy at once, as an SSH channel copies what it sends into a packet.
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      taken.push(chunk.toString());
      cb();
    },
  });
  const memory = await readAllInto(port, sink);
  assert.deepEqual(taken, parts);
  assert.equal(memory.size, 1, 'every read landed in the same buffer');
});

test('a read its sink still holds is never overwritten by the next', async (t) => {
  const { server, port } = await sender(parts);
  t.after(() => server.close());
  const held: Buffer[] = [];
  // Finishes each chunk only later, as a channel waiting for window does: the next read comes first.
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      held.push(chunk);
      setImmediate(cb);
    },
  });
  const memory = await readAllInto(port, sink);
  await new Promise((resolve) => sink.end(resolve));
  assert.deepEqual(
    held.map((b) => b.toString()),
    parts,
  );
  assert.equal(memory.size, parts.length, 'each read in a buffer of its own');
});
