import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ssh2 from 'ssh2';
import type { CipherAlgorithm, ClientChannel, ServerChannel } from 'ssh2';
import { edits, patchedPacketSize, patchSsh2 } from '../ssh2-patch.mjs';
import { generateEd25519KeyPair, signingKey } from './ssh-keys.ts';
import { tunnelSshAlgorithms } from './tunnel-ssh.ts';
import { connectWithPacketReads, connectWithSlabReads, readIntoSlabsWhileBusy } from './socket-reads.ts';

const require = createRequire(import.meta.url);
const lib = join(dirname(require.resolve('ssh2/package.json')), 'lib');

test('the installed ssh2 carries the tunnel patch: 64 KiB packets advertised and accepted', () => {
  assert.deepEqual(patchSsh2({ check: true }), [], 'run node packages/protocol/ssh2-patch.mjs');
  const channel = require('ssh2/lib/Channel.js') as { PACKET_SIZE: number };
  assert.equal(channel.PACKET_SIZE, patchedPacketSize);
  assert.equal(patchedPacketSize, 64 * 1024);
});

test('the patch applies to ssh2 as shipped, once, and refuses an ssh2 it was not written for', () => {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-ssh2-patch-'));
  try {
    mkdirSync(join(dir, 'protocol'));
    const patchedFiles = [...new Set(edits.map((e) => e.file))];
    // ssh2 as shipped: the installed files with every edit undone.
    for (const file of patchedFiles) {
      let text = readFileSync(join(lib, file), 'utf8');
      for (const edit of edits.filter((e) => e.file === file).reverse()) text = text.split(edit.to).join(edit.from);
      writeFileSync(join(dir, file), text);
    }
    assert.equal(patchSsh2({ check: true, lib: dir }).length, edits.length, 'every edit pending');
    assert.equal(patchSsh2({ lib: dir }).length, edits.length);
    for (const file of patchedFiles) {
      assert.equal(readFileSync(join(dir, file), 'utf8'), readFileSync(join(lib, file), 'utf8'), `${file} patched as installed`);
    }
    assert.deepEqual(patchSsh2({ lib: dir }), [], 'a second run changes nothing');
    assert.ok(!readFileSync(join(dir, 'protocol/crypto.js'), 'utf8').includes('randomFillSync(packet'), 'no padding call left');

    writeFileSync(join(dir, 'Channel.js'), 'const PACKET_SIZE = 16 * 1024;\n');
    assert.throws(() => patchSsh2({ lib: dir }), /not the ssh2 this patch was written for/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Two patched ends, as the gateway and the agent are: the server opens a channel to the
 * client (as the gateway does for a visitor) and each side sends the other 8 MiB. With
 * `agentReads` the client reads as the agent does: the SSH connection into slabs, and what
 * it sends from an origin socket read straight into packets, piped into the channel.
 */
async function exchange(cipher: CipherAlgorithm, agentReads: boolean) {
  const hostKey = generateEd25519KeyPair('host').private;
  const server = new ssh2.Server({ hostKeys: [{ key: signingKey(hostKey) }], algorithms: tunnelSshAlgorithms }, (conn) => {
    conn.on('authentication', (ctx) => ctx.accept());
    // The client asks for its port to be forwarded, as the agent does; the server opens a channel to it.
    conn.on('request', (accept) => {
      accept?.();
      conn.forwardOut('127.0.0.1', 22, '127.0.0.1', 1, (err, channel) => {
        if (err) throw err;
        server.emit('channel', channel);
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = new ssh2.Client();
  const clientChannel = new Promise<ClientChannel>((resolve) => client.on('tcp connection', (_info, accept) => resolve(accept())));
  const serverChannel = once(server, 'channel') as Promise<[ServerChannel]>;
  client.on('ready', () => client.forwardIn('127.0.0.1', 22, () => {}));
  const port = (server.address() as AddressInfo).port;
  client.connect({
    // The agent's reads (slabs: a straddling packet decrypted where it lies) or Node's own (a copy).
    ...(agentReads ? { sock: connectWithSlabReads({ host: '127.0.0.1', port }) } : { host: '127.0.0.1', port }),
    username: 'device',
    algorithms: { ...tunnelSshAlgorithms, cipher: [cipher] },
  });
  const [[atServer], atClient] = await Promise.all([serverChannel, clientChannel]);
  const down = randomBytes(8 * 1024 * 1024);
  const up = randomBytes(8 * 1024 * 1024);
  const receive = (channel: ServerChannel | ClientChannel) =>
    new Promise<{ bytes: Buffer; largest: number }>((resolve) => {
      const chunks: Buffer[] = [];
      let largest = 0;
      channel.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        largest = Math.max(largest, chunk.length);
      });
      channel.on('end', () => resolve({ bytes: Buffer.concat(chunks), largest }));
    });
  const [atClientGot, atServerGot] = [receive(atClient), receive(atServer)];
  // One write as large as the payload: ssh2 cuts it into packets of what the peer advertised.
  // ssh2 closes a server channel when its writing side ends: only once the client's data is all in.
  atServer.write(down);
  atServer.once('end', () => atServer.end());
  let origin: ReturnType<typeof createServer> | undefined;
  if (agentReads) {
    // Written in uneven pieces, so reads come in every size.
    origin = createServer((socket) => {
      let at = 0;
      for (let i = 0; at < up.length; i++) {
        const size = 1_000 + ((i * 7_919) % 150_000);
        socket.write(up.subarray(at, at + size));
        at += size;
      }
      socket.end();
    }).listen(0, '127.0.0.1');
    await once(origin, 'listening');
    connectWithPacketReads({ host: '127.0.0.1', port: (origin.address() as AddressInfo).port }).pipe(atClient);
  } else atClient.end(up);
  const got = { down: await atClientGot, up: await atServerGot };
  // What each end may send the other: the packet size the other advertised (ssh2's typings leave it out).
  const sendLimit = (channel: unknown) => (channel as { outgoing: { packetSize: number } }).outgoing.packetSize;
  const packetSizes = { toClient: sendLimit(atServer), toServer: sendLimit(atClient) };
  client.end();
  server.close();
  origin?.close();
  return { got, down, up, packetSizes };
}

for (const [cipher, agentReads] of [
  ['aes128-gcm@openssh.com', true],
  ['aes128-gcm@openssh.com', false],
  ['chacha20-poly1305@openssh.com', true],
  ['chacha20-poly1305@openssh.com', false],
] as const) {
  const reads = agentReads ? "the agent's reads: slabs, and packets sent where they were read" : "Node's own reads";
  test(`two patched ends send each other 64 KiB packets and every byte arrives, in order (${cipher}, ${reads})`, async () => {
    const { got, down, up, packetSizes } = await exchange(cipher, agentReads);
    const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    assert.equal(got.down.bytes.length, down.length);
    assert.equal(digest(got.down.bytes), digest(down));
    assert.equal(got.up.bytes.length, up.length);
    assert.equal(digest(got.up.bytes), digest(up));
    assert.deepEqual(packetSizes, { toClient: 64 * 1024, toServer: 64 * 1024 });
    // Each SSH data packet arrives as one chunk: more than ssh2's own 32 KiB means big packets flowed.
    assert.equal(got.down.largest, 64 * 1024);
    assert.equal(got.up.largest, 64 * 1024);
  });
}

interface PatchedCryptoModule {
  CIPHER_INFO: Record<string, { keyLen: number; ivLen: number }>;
  createCipher(config: unknown): { allocPacket(payloadLen: number): Buffer; encrypt(packet: Buffer): void };
  createDecipher(config: unknown): { decrypt(data: Buffer, p: number, dataLen: number): unknown };
  slabTake(): Buffer;
  slabDrop(slab: Buffer): void;
  slabPayload(payload: Buffer, isData: boolean): void;
  slabWritten(data: Uint8Array): ((err?: Error | null) => void) | undefined;
}

// A device controls how its bytes are cut into reads: it can end one read right after a
// packet's body and send the tag a few bytes at a time.
for (const cipherName of ['aes128-gcm@openssh.com', 'chacha20-poly1305@openssh.com']) {
  test(`${cipherName}: a packet whose tag comes in pieces after its read slab was given up never decrypts into that slab's next reader`, () => {
    const crypto = require('ssh2/lib/protocol/crypto.js') as PatchedCryptoModule;
    const info = crypto.CIPHER_INFO[cipherName];
    assert.ok(info);
    const key = randomBytes(info.keyLen);
    const iv = randomBytes(info.ivLen);
    const sent: Buffer[] = [];
    const cipher = crypto.createCipher({
      outbound: { onWrite: (p: Buffer) => sent.push(Buffer.from(p)), cipherInfo: info, cipherKey: key, cipherIV: iv, seqno: 0 },
    });
    // Two channel data packets (type 94, recipient 0, data length, data).
    for (const n of [1_000, 60_000]) {
      const packet = cipher.allocPacket(1 + 4 + 4 + n);
      packet[5] = 94;
      packet.writeUInt32BE(0, 6);
      packet.writeUInt32BE(n, 10);
      randomBytes(n).copy(packet, 14);
      cipher.encrypt(packet);
    }
    const [first, second] = sent;
    assert.ok(first && second);
    const payloads: Buffer[] = [];
    const decipher = crypto.createDecipher({
      inbound: {
        onPayload: (payload: Buffer) => {
          crypto.slabPayload(payload, payload[0] === 94);
          payloads.push(payload);
        },
        decipherInfo: info,
        decipherKey: key,
        decipherIV: iv,
        seqno: 0,
      },
    });
    // A read into a slab: the first packet whole and the second up to 6 bytes short of its end, inside the tag.
    const slab = crypto.slabTake();
    const read1 = slab.subarray(0, first.length + second.length - 6);
    first.copy(read1, 0);
    second.copy(read1, first.length, 0, second.length - 6);
    decipher.decrypt(read1, 0, read1.length);
    assert.equal(payloads.length, 1);
    crypto.slabWritten(payloads[0] as Buffer)?.();
    // The next read, into the next slab, brings 3 of the 6 bytes; the reader gives the first slab up.
    const next = crypto.slabTake();
    second.copy(next, 0, second.length - 6, second.length - 3);
    decipher.decrypt(next.subarray(0, 3), 0, 3);
    crypto.slabDrop(slab);
    // Another tunnel's reader gets that slab from the pool and reads into it.
    const other = crypto.slabTake();
    assert.equal(other.buffer, slab.buffer, 'the slab went back to the pool');
    other.fill(0x41);
    const othersBytes = Buffer.from(other);
    // This tunnel's last 3 bytes arrive: the second packet decrypts, and the other reader's bytes are untouched.
    second.copy(next, 3, second.length - 3);
    decipher.decrypt(next.subarray(3, 6), 0, 3);
    assert.equal(payloads.length, 2);
    assert.equal(payloads[1]?.length, 1 + 4 + 4 + 60_000);
    assert.ok(other.equals(othersBytes), "the other reader's slab was written into");
    crypto.slabDrop(other);
    crypto.slabDrop(next);
  });
}

/**
 * A server (the gateway) and a client (a device) with a channel the client opened: the
 * server's end of it, and a way to know the server has handled everything sent before.
 * With `slabReads` the server reads the connection as the gateway reads a busy tunnel.
 */
async function deviceAndGateway(t: { after(fn: () => void): void }, slabReads: boolean) {
  const hostKey = generateEd25519KeyPair('host').private;
  const server = new ssh2.Server({ hostKeys: [{ key: signingKey(hostKey) }], algorithms: tunnelSshAlgorithms }, (conn) => {
    conn.on('authentication', (ctx) => ctx.accept());
    conn.on('ready', () => {
      if (slabReads) readIntoSlabsWhileBusy((conn as unknown as { _sock: Socket })._sock);
    });
    conn.on('tcpip', (accept) => server.emit('channel', accept()));
    // Answered in order after every packet before it: the client's proof the server has read them.
    conn.on('request', (accept) => accept?.());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = new ssh2.Client();
  t.after(() => {
    client.end();
    server.close();
  });
  client.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, username: 'device', algorithms: tunnelSshAlgorithms });
  await once(client, 'ready');
  const open = async () => {
    const atServer = once(server, 'channel') as Promise<[ServerChannel]>;
    const atClient = await new Promise<ClientChannel>((resolve, reject) =>
      client.forwardOut('127.0.0.1', 1, '127.0.0.1', 80, (err, channel) => (err ? reject(err) : resolve(channel))),
    );
    const [channel] = await atServer;
    return { atClient, atServer: channel };
  };
  const handled = () => new Promise<void>((resolve, reject) => client.forwardIn('127.0.0.1', 0, (err) => (err ? reject(err) : resolve())));
  return { open, handled };
}

/** The window the server gave a channel, and what a device sends without looking at it. */
const channelWindow = 2 * 1024 * 1024;
const ignoreWindow = (channel: ClientChannel | ServerChannel) =>
  ((channel as unknown as { outgoing: { window: number } }).outgoing.window = Infinity);

// Either end may be the one that overshoots: a device to the gateway, or a gateway (a
// compromised or buggy server) to an agent on a 1 GB Raspberry Pi.
for (const sender of ['device', 'gateway'] as const) {
  const receiver = sender === 'device' ? 'the gateway' : 'the agent';
  test(`a ${sender} that sends past the window it was given gets nothing past it queued on ${receiver}`, async (t) => {
    const { open, handled } = await deviceAndGateway(t, false);
    const { atClient, atServer } = await open();
    const [from, to] = sender === 'device' ? [atClient, atServer] : [atServer, atClient];
    to.pause(); // a reader that has stopped reading
    ignoreWindow(from);
    // Packets of 65,000 bytes take the window below zero rather than to exactly 0.
    for (let i = 0; i < 256; i++) from.write(Buffer.alloc(65_000));
    // The reply to a request the receiver sends now comes after all of it, in order.
    await handled();
    // What an honest sender can have queued: the channel's 2 MiB high-water mark, the point at
    // which the receiver stops renewing the window, and the window it had granted by then.
    const honest = 2 * channelWindow;
    assert.ok(to.readableLength > channelWindow, `the window's worth arrived (${to.readableLength})`);
    assert.ok(to.readableLength <= honest, `queued ${to.readableLength} bytes of the 16.6 MB sent; at most ${honest} may be`);
  });
}

/** Everything a paused channel has queued, chunk by chunk as the reader gets it. */
async function drain(channel: ServerChannel): Promise<Buffer[]> {
  const queued: Buffer[] = [];
  channel.on('data', (chunk: Buffer) => queued.push(chunk));
  channel.resume();
  await new Promise((resolve) => setImmediate(resolve));
  return queued;
}
/** The bytes of a queue, and of the buffers its chunks keep alive. */
function pinning(queued: Buffer[]) {
  const bytes = queued.reduce((n, c) => n + c.length, 0);
  const pinned = [...new Set(queued.map((c) => c.buffer))].reduce((n, b) => n + b.byteLength, 0);
  return { bytes, pinned };
}

// A device interleaves data for a visitor who has stopped reading with data for one who
// reads everything at once, so each payload for the first lies in a read buffer of its own.
for (const [slabReads, size, between] of [
  [false, 1024, 63 * 1024], // 1 KiB in each 64 KiB read
  [true, 1024, 63 * 1024], // 1 KiB in each 1 MiB slab
  [true, 60 * 1024, 964 * 1024], // 60 KiB in each 1 MiB slab: under 64 times, kept until the slabs add up
] as const) {
  const reads = slabReads ? "the gateway's slab reads" : "Node's own reads";
  test(`a device's data for a visitor who does not read pins read buffers of at most twice its size and 2 MiB (${size / 1024} KiB payloads, ${reads})`, async (t) => {
    const { open, handled } = await deviceAndGateway(t, slabReads);
    const stalled = await open();
    const busy = await open();
    stalled.atServer.pause();
    busy.atServer.resume();
    const count = Math.floor((1536 * 1024) / size); // 1.5 MiB of payloads, within the 2 MiB window
    for (let i = 0; i < count; i++) {
      stalled.atClient.write(Buffer.alloc(size, i));
      // Sent before the next payload for the stalled visitor: ssh2 calls back once it has.
      await new Promise((resolve) => busy.atClient.write(Buffer.alloc(between), resolve));
    }
    await handled();
    const queued = await drain(stalled.atServer);
    assert.equal(queued.length, count, 'every payload was queued, one chunk each');
    for (const [i, chunk] of queued.entries()) assert.ok(chunk.equals(Buffer.alloc(size, i)), `payload ${i} intact`);
    const { bytes, pinned } = pinning(queued);
    assert.ok(pinned <= 2 * bytes + 2 * 1024 * 1024, `${bytes} bytes queued pin ${pinned} bytes of buffers`);
  });
}

// A bulk stream to a visitor who is behind, as an origin writes it: with or without small
// writes among the large ones (a small payload in a 1 MiB slab is copied; the large ones
// around it stay where they were read).
for (const smallEvery of [0, 6]) {
  const what = smallEvery ? `a 1 KiB write after every ${smallEvery}th` : 'nothing else';
  test(`a bulk stream to a visitor who is behind stays in the slabs it was read into (${what})`, async (t) => {
    const { open, handled } = await deviceAndGateway(t, true);
    const { atClient, atServer } = await open();
    atServer.pause();
    const sent: Buffer[] = [];
    for (let i = 0; i < 56; i++) {
      sent.push(randomBytes(32 * 1024));
      if (smallEvery && i % smallEvery === smallEvery - 1) sent.push(randomBytes(1024));
    }
    for (const b of sent) atClient.write(b);
    await handled();
    const queued = await drain(atServer);
    assert.ok(Buffer.concat(queued).equals(Buffer.concat(sent)), 'every byte arrived, in order');
    // A copy lies in a buffer of its own size (or an 8 KiB one shared by small copies); a
    // payload left where it was read shares its read with the packet's header and tag.
    const large = queued.filter((c) => c.length >= 16 * 1024);
    const copied = large.filter((c) => c.buffer.byteLength === c.length || c.buffer.byteLength === 8 * 1024);
    assert.equal(copied.length, 0, `${copied.length} of ${large.length} large payloads copied`);
    const { bytes, pinned } = pinning(queued);
    assert.ok(pinned <= bytes + 2 * 1024 * 1024, `${bytes} bytes queued pin ${pinned} bytes of buffers`);
  });
}
