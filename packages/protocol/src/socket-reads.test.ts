import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { ClientChannel, ServerChannel } from 'ssh2';
import { generateEd25519KeyPair, signingKey } from './ssh-keys.ts';
import { tunnelSshAlgorithms } from './tunnel-ssh.ts';
import { batchWritesPerTick } from './batched-writes.ts';
import {
  connectWithSlabReads,
  readIntoPackets,
  readIntoSlabsWhileBusy,
  releaseSlabsOnWrite,
  slabCounts,
  slabReaderCount,
} from './socket-reads.ts';

const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * A gateway-like server sends `bytes` down a channel to a client that reads as the agent
 * does (its SSH connection into slabs); the client's side of the channel goes where `sink`
 * says. Returns once the server's channel has sent everything.
 */
async function sendDown(bytes: Buffer | ((channel: ServerChannel) => void), sink: (channel: ClientChannel) => void): Promise<() => void> {
  const hostKey = generateEd25519KeyPair('host').private;
  const server = new ssh2.Server({ hostKeys: [{ key: signingKey(hostKey) }], algorithms: tunnelSshAlgorithms }, (conn) => {
    conn.on('authentication', (ctx) => ctx.accept());
    conn.on('request', (accept) => {
      accept?.();
      conn.forwardOut('127.0.0.1', 22, '127.0.0.1', 1, (err, channel: ServerChannel) => {
        if (err) throw err;
        if (typeof bytes === 'function') bytes(channel);
        else channel.end(bytes);
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = new ssh2.Client();
  client.on('tcp connection', (_info, accept) => sink(accept()));
  client.on('ready', () => client.forwardIn('127.0.0.1', 22, () => {}));
  client.connect({
    sock: connectWithSlabReads({ host: '127.0.0.1', port: (server.address() as AddressInfo).port }),
    username: 'device',
    algorithms: tunnelSshAlgorithms,
  });
  return () => {
    client.end();
    server.close();
  };
}

/** An origin that reads slowly (stops for a few ms every 256 KiB), so writes to it wait and the channel backs up. */
async function slowOrigin(): Promise<{ server: Server; received: Promise<Buffer> }> {
  let done!: (b: Buffer) => void;
  const received = new Promise<Buffer>((resolve) => (done = resolve));
  const server = createServer((socket) => {
    const chunks: Buffer[] = [];
    let sinceStop = 0;
    socket.on('data', (chunk: Buffer) => {
      // Node's own reads: a Buffer of its own each, safe to keep.
      chunks.push(chunk);
      sinceStop += chunk.length;
      if (sinceStop >= 256 * 1024) {
        sinceStop = 0;
        socket.pause();
        setTimeout(() => socket.resume(), 3);
      }
    });
    socket.on('end', () => done(Buffer.concat(chunks)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, received };
}

// Runs first, with the pool empty: a slab whose data is kept is never taken back.
test('a read slab whose data someone keeps is never reused: every byte stays as it arrived', async (t) => {
  const bytes = randomBytes(16 * 1024 * 1024);
  const before = slabCounts();
  let done!: (b: Buffer) => void;
  const received = new Promise<Buffer>((resolve) => (done = resolve));
  const stop = await sendDown(bytes, (channel) => {
    // Views of the slabs, kept until the end: no socket says they were written.
    const chunks: Buffer[] = [];
    channel.on('data', (chunk: Buffer) => chunks.push(chunk));
    channel.on('end', () => done(Buffer.concat(chunks)));
  });
  t.after(stop);
  const got = await received;
  assert.equal(got.length, bytes.length);
  assert.equal(digest(got), digest(bytes));
  const after = slabCounts();
  assert.ok(after.taken - before.taken >= 8, `slabs taken: ${after.taken - before.taken}`);
  assert.equal(after.reused - before.reused, 0);
});

test('read slabs are reused once the origin socket has written their data, and every byte arrives as sent', async (t) => {
  const bytes = randomBytes(48 * 1024 * 1024);
  const origin = await slowOrigin();
  t.after(() => origin.server.close());
  const before = slabCounts();
  const stop = await sendDown(bytes, (channel) => {
    // As the agent joins a channel and its origin connection (packages/agent/src/tunnel-client.ts).
    const upstream = connect({ host: '127.0.0.1', port: (origin.server.address() as AddressInfo).port });
    batchWritesPerTick(upstream);
    releaseSlabsOnWrite(upstream);
    channel.pipe(upstream);
  });
  t.after(stop);
  const got = await origin.received;
  assert.equal(got.length, bytes.length);
  assert.equal(digest(got), digest(bytes));
  const after = slabCounts();
  // 48 MiB through 1 MiB slabs: most of them must have come back from the pool.
  assert.ok(after.taken - before.taken >= 40, `slabs taken: ${after.taken - before.taken}`);
  assert.ok(
    after.reused - before.reused >= (after.taken - before.taken) / 2,
    `reused ${after.reused - before.reused} of ${after.taken - before.taken}`,
  );
});

test("a visitor's socket accepted paused reads into SSH packets, and every byte reaches the other end as sent", async (t) => {
  const bytes = randomBytes(24 * 1024 * 1024);
  // The gateway's public port: accepted paused, read into packets once its channel is open.
  const visitors = createServer({ allowHalfOpen: true, pauseOnConnect: true });
  visitors.listen(0, '127.0.0.1');
  await once(visitors, 'listening');
  t.after(() => visitors.close());
  const [visitor] = (
    await Promise.all([
      once(visitors, 'connection'),
      (async () => {
        const client = connect({ host: '127.0.0.1', port: (visitors.address() as AddressInfo).port });
        // Half-open on the other side: nothing else would close it.
        t.after(() => client.destroy());
        await once(client, 'connect');
        // Uneven pieces, so reads come in every size.
        for (let at = 0, i = 0; at < bytes.length; i++) {
          const size = 1_000 + ((i * 7_919) % 150_000);
          client.write(bytes.subarray(at, at + size));
          at += size;
        }
        client.end();
      })(),
    ])
  )[0] as [Socket];
  t.after(() => visitor.destroy());
  let switched: boolean | undefined;
  let done!: (b: Buffer) => void;
  const received = new Promise<Buffer>((resolve) => (done = resolve));
  const stop = await sendDown(
    (channel) => {
      switched = readIntoPackets(visitor);
      visitor.pipe(channel);
    },
    (channel) => {
      const chunks: Buffer[] = [];
      channel.on('data', (chunk: Buffer) => chunks.push(chunk));
      channel.on('end', () => done(Buffer.concat(chunks)));
    },
  );
  t.after(stop);
  const got = await received;
  assert.equal(switched, true);
  assert.equal(got.length, bytes.length);
  assert.equal(digest(got), digest(bytes));
  // What the traffic meter reads.
  assert.equal(visitor.bytesRead, bytes.length);
});

test("a socket that has already read keeps Node's own reads", async (t) => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const client = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  t.after(() => client.destroy());
  const [accepted] = (await once(server, 'connection')) as [Socket];
  t.after(() => accepted.destroy());
  client.write('hello');
  await once(accepted, 'data');
  assert.equal(readIntoPackets(accepted), false);
});

/**
 * A gateway-like server that reads its device connections as the gateway does
 * (readIntoSlabsWhileBusy), with one device that opens a forwarded channel for the server:
 * `send` gets the device's side of it, the server's side is piped into `visitor`.
 */
async function device(
  quietMs: number,
  visitor: Socket,
  send: (channel: ClientChannel) => void,
): Promise<{ tunnel: Socket; stop: () => void }> {
  const hostKey = generateEd25519KeyPair('host').private;
  let tunnel!: Socket;
  const ssh = new ssh2.Server({ hostKeys: [{ key: signingKey(hostKey) }], algorithms: tunnelSshAlgorithms }, (conn) => {
    conn.on('authentication', (ctx) => ctx.accept());
    conn.on('ready', () => readIntoSlabsWhileBusy(tunnel, quietMs));
    conn.on('request', (accept) => {
      accept?.();
      conn.forwardOut('127.0.0.1', 22, '127.0.0.1', 1, (err, channel: ServerChannel) => {
        if (err) throw err;
        channel.pipe(visitor);
      });
    });
  });
  const listener = createServer((socket) => {
    tunnel = socket;
    ssh.injectSocket(socket);
  });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const client = new ssh2.Client();
  client.on('tcp connection', (_info, accept) => send(accept()));
  client.on('ready', () => client.forwardIn('127.0.0.1', 22, () => {}));
  client.connect({
    host: '127.0.0.1',
    port: (listener.address() as AddressInfo).port,
    username: 'device',
    algorithms: tunnelSshAlgorithms,
  });
  await once(client, 'ready');
  return {
    tunnel,
    stop: () => {
      client.end();
      listener.close();
    },
  };
}

/** How much memory the socket's next read goes into: Node's own reads (nothing held) are 0. */
function heldForNextRead(socket: Socket): number {
  const key = Object.getOwnPropertySymbols(socket).find((k) => k.description === 'kBuffer');
  const held = key && (socket as unknown as Record<symbol, Uint8Array | null>)[key];
  return held ? held.length : 0;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("a server's device connection reads into slabs only while a download is under way, and every byte reaches the visitor as sent", async (t) => {
  const first = randomBytes(24 * 1024 * 1024);
  const small = Buffer.from('a few bytes while the tunnel is quiet\n');
  const second = randomBytes(24 * 1024 * 1024);
  const origin = await slowOrigin();
  t.after(() => origin.server.close());
  // The visitor: its socket writes the channel's data and says so (as the gateway's public ports do).
  const visitor = connect({ host: '127.0.0.1', port: (origin.server.address() as AddressInfo).port });
  releaseSlabsOnWrite(visitor);
  await once(visitor, 'connect');
  const before = slabCounts();
  let heldBefore = -1;
  let heldQuiet = -1;
  let readersQuiet = -1;
  const { tunnel, stop } = await device(100, visitor, async (channel) => {
    heldBefore = heldForNextRead(tunnel);
    const write = (b: Buffer) => new Promise<void>((resolve) => (channel.write(b) ? resolve() : channel.once('drain', () => resolve())));
    for (let at = 0; at < first.length; at += 256 * 1024) await write(first.subarray(at, at + 256 * 1024));
    // Quiet: small reads, more than 100 ms after the last large one.
    await sleep(300);
    for (let i = 0; i < 3; i++) {
      await write(small);
      await sleep(150);
    }
    heldQuiet = heldForNextRead(tunnel);
    readersQuiet = slabReaderCount();
    for (let at = 0; at < second.length; at += 256 * 1024) await write(second.subarray(at, at + 256 * 1024));
    channel.end();
  });
  t.after(stop);
  const got = await origin.received;
  const sent = Buffer.concat([first, small, small, small, second]);
  assert.equal(got.length, sent.length);
  assert.equal(digest(got), digest(sent));
  // Before any download: Node's own reads, nothing held while waiting.
  assert.equal(heldBefore, 0);
  // Quiet again: a 4 KiB buffer, not a slab, and no longer counted among the slab readers.
  assert.equal(heldQuiet, 4 * 1024);
  assert.equal(readersQuiet, 0);
  const after = slabCounts();
  assert.ok(after.taken - before.taken >= 30, `slabs taken: ${after.taken - before.taken}`);
  assert.ok(
    after.reused - before.reused >= (after.taken - before.taken) / 2,
    `reused ${after.reused - before.reused} of ${after.taken - before.taken}`,
  );
});
