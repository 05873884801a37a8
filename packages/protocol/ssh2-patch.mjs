#!/usr/bin/env node
// Patches constants, allocations and writes of the installed ssh2 (1.17), for the device tunnel's
// throughput and CPU. Run by this package's postinstall (so `npm ci` applies it, on the
// server and on a device alike) and by scripts/setup.sh (checkouts whose node_modules were
// copied, not installed). Idempotent; `--check` only reports, exiting 1 if not applied.
//
// Why not options: ssh2 fixes these as module constants (lib/Channel.js, lib/protocol/
// crypto.js) and reads them when its modules load, so nothing set at run time reaches them.
//
// 1. The largest channel data packet we accept, as we advertise it when a channel opens:
//    32 KiB → 64 KiB, one packet per 64 KiB socket read (what Node reads at once) instead
//    of two. Halves the packets per byte, and with them the writes, the encrypt and
//    decrypt calls and the Buffers per byte, at both ends of the tunnel.
// 2. What the decipher accepts, raised with it (a packet over the limit ends the
//    connection). Safe with peers that keep 32 KiB (older agents and gateways, stock
//    OpenSSH): SSH sends a peer at most the packet size that peer advertised, so a peer
//    that advertises 32 KiB still gets 32 KiB packets, and one that never sends more than
//    32 KiB is unaffected by our accepting more.
// 3. Each packet's random padding (4–20 bytes) comes from a pool filled from the same
//    CSPRNG (crypto.randomFillSync) 16 KiB at a time, each byte used once, instead of a
//    randomFillSync call per packet: that call was 5–9 % of both ends' CPU in the tunnel's
//    profiles (docs/benchmarks.md), most of it per-call overhead.
// 4. Data-sized packets (16 KiB and more) are written from a pool of reused buffers instead
//    of a new 65 KiB Buffer each: ssh2 writes a packet without a callback, so it could not
//    know when the memory was free; the patched write passes one (Protocol.js, client.js,
//    server.js), and a pooled packet goes back to the pool when the socket has written it
//    (not on an error: then it is left to the garbage collector). A new Buffer per packet
//    sent was most of the garbage collection in the tunnel's profiles.
// 5. A received packet that straddles two socket reads is decrypted where it lies when the
//    two reads sit one after the other in one buffer (the tunnel reads into slabs:
//    packages/protocol/src/socket-reads.ts), instead of being copied into a Buffer of its
//    own; otherwise copied as before, only once its second part has arrived. With 64 KiB
//    packets and 64 KiB reads nearly every packet straddles. ssh2 already kept a view of a
//    read within one parse call; now the first part's view is kept until the next read,
//    which holds for Node's own reads (a new Buffer each) and for the slabs (never reused).
//
// 6. Data read straight into a pooled packet's payload area (packages/protocol/src/
//    socket-reads.ts, the agent's reads from the origin) goes out as a packet written around
//    it, encrypted where it lies: no copy and no new Buffer per packet. Only a read sent
//    whole, as one packet, at the offset where a payload goes: anything else (a read split
//    by the window, a peer with smaller packets, a key exchange under way) is copied as before.
//
// 7. The tunnel's read slabs (packages/protocol/src/socket-reads.ts) are reused instead of
//    left to the garbage collector: a new 1 MiB slab every few milliseconds is external memory
//    V8 answers with a full mark-compact about every 64 MiB (14–21 % of the agent's CPU on
//    upload). Every received packet's payload is counted against the slab it was decrypted
//    in: a channel data payload as one more view that someone will write out (the agent's
//    origin socket, the gateway's visitor on a public port, gives it back from the write
//    callback: releaseSlabsOnWrite), any other
//    packet marks the slab as never to be reused (ssh2 may keep its views: a KEXINIT, a
//    request's strings). A slab goes back to the pool only once the reader has moved on,
//    it is not marked, and every data view of it has been written; anything that keeps a
//    view without a counted write keeps the slab out of the pool (the garbage collector
//    has it, as before), so a slab can be lost to the pool but never rewritten under a view.
//
// 8. A packet whose body has arrived but whose tag has not yet (a read ending between the two,
//    or inside the tag) is the one thing the decipher keeps of a read past the read after it:
//    where that body is a view of a read slab it is copied out then (rare: a read ending in
//    those 16 bytes), so a slab the reader has moved on from can go back to the pool without
//    the decipher later decrypting in place in memory another read, of any tunnel, now holds.
//
// 9. A peer's channel data past the window it was given is dropped, as OpenSSH drops it,
//    where ssh2 only refused data once the window was exactly 0: a peer whose data overshot
//    it once (the window below zero) could send without limit, all of it queued for a
//    reader that had stopped reading. And on the server's side (the gateway, facing devices)
//    a payload is copied out of its read buffer (a 64 KiB read, a 1 MiB slab) where keeping
//    the view would pin far more than its bytes: always when the buffer is over 64 times its
//    size, and otherwise when the read buffers the channel's queue keeps alive would come to
//    more than twice what is queued, plus 2 MiB (each buffer counted once, by the bytes
//    queued in it). A device interleaving small data for a visitor who does not read with
//    bulk data elsewhere could have kept a whole slab alive per few bytes; a bulk stream's
//    payloads, side by side in the slabs, are not copied. Not counted: what the reader has
//    taken but not yet written (a visitor socket's 16 KiB or so of payloads, each at least a
//    64th of its buffer: about 2 MiB at most).
//
// Every edit is an exact text match: a different ssh2 fails loudly here rather than
// running half-patched. packages/protocol/src/ssh2-patch.test.ts checks the result.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const marker = 'p2pvps ssh2-patch';
export const patchedPacketSize = 64 * 1024;

const poolCode = `
// ${marker}: padding from a pool of CSPRNG bytes, each used once (packages/protocol/ssh2-patch.mjs).
const PADDING_POOL = Buffer.allocUnsafe(16 * 1024);
let paddingPos = PADDING_POOL.length;
function fillPadding(packet, offset, len) {
  if (paddingPos + len > PADDING_POOL.length) {
    randomFillSync(PADDING_POOL);
    paddingPos = 0;
  }
  for (let i = 0; i < len; ++i)
    packet[offset + i] = PADDING_POOL[paddingPos++];
}
`;

const packetPoolCode = `
// ${marker}: data-sized packets in reused buffers, back in the pool once the socket wrote them.
const PACKET_POOL_MIN = 16 * 1024;
const PACKET_POOL_SIZE = MAX_PACKET_SIZE + 64; // any cipher's packet of the largest payload, with its tag
const PACKET_POOL_MAX = 32; // 2 MiB kept at most: one channel window's worth
const PACKET_POOL = [];
const POOLED = new WeakSet();
function allocPacketBuffer(size) {
  if (size < PACKET_POOL_MIN || size > PACKET_POOL_SIZE)
    return Buffer.allocUnsafe(size);
  let ab = PACKET_POOL.pop();
  if (ab === undefined) {
    ab = new ArrayBuffer(PACKET_POOL_SIZE);
    POOLED.add(ab);
  }
  return new FastBuffer(ab, 0, size);
}
// The write callback for a packet: gives a pooled packet's memory back once written.
function packetWritten(packet) {
  const ab = packet.buffer;
  if (packet.byteOffset !== 0 || !POOLED.has(ab))
    return undefined;
  return (err) => {
    if (!err && PACKET_POOL.length < PACKET_POOL_MAX)
      PACKET_POOL.push(ab);
  };
}

// ${marker}: the next part of a received packet. The first part is kept as a view; a part
// that follows it in the same memory extends the view; any other is copied, as ssh2 does.
function joinFragment(packet, have, fragment, len) {
  if (!packet)
    return fragment;
  if (packet.length !== have) {
    packet.set(fragment, have);
    return packet;
  }
  if (packet.buffer === fragment.buffer
      && packet.byteOffset + have === fragment.byteOffset) {
    return new FastBuffer(packet.buffer, packet.byteOffset, have + fragment.length);
  }
  const whole = Buffer.allocUnsafe(len);
  whole.set(packet, 0);
  whole.set(fragment, have);
  return whole;
}

// ${marker}: reads straight into a pooled packet, where a channel data payload goes
// (length, padding length, type, channel, data length before it).
const PAYLOAD_OFFSET = 4 + 1 + 1 + 4 + 4;
const READ_BYTES = new WeakMap();
function packetReadBuffer() {
  let ab = PACKET_POOL.pop();
  if (ab === undefined) {
    ab = new ArrayBuffer(PACKET_POOL_SIZE);
    POOLED.add(ab);
  }
  return new FastBuffer(ab, PAYLOAD_OFFSET, ${patchedPacketSize});
}
function packetRead(buffer, bytes) {
  READ_BYTES.set(buffer.buffer, bytes);
}
// The packet around \`data\` when it is a whole read from packetReadBuffer, else null.
function packetAround(data, blockLen) {
  const ab = data.buffer;
  if (data.byteOffset !== PAYLOAD_OFFSET || !POOLED.has(ab)
      || READ_BYTES.get(ab) !== data.length)
    return null;
  const payloadLen = 1 + 4 + 4 + data.length;
  let pktLen = 4 + 1 + payloadLen;
  let padLen = blockLen - ((pktLen - 4) & (blockLen - 1));
  if (padLen < 4)
    padLen += blockLen;
  pktLen += padLen;
  if (pktLen + 16 > ab.byteLength)
    return null;
  READ_BYTES.delete(ab);
  const packet = new FastBuffer(ab, 0, pktLen + 16);
  writeUInt32BE(packet, pktLen - 4, 0);
  packet[4] = padLen;
  fillPadding(packet, 5 + payloadLen, padLen);
  return packet;
}
`;

const channelPinsCode = `
// ${marker}: channel data that would keep read buffers many times its size alive, copied out of them.
const PIN_ALWAYS = 64; // a payload in a buffer over this many times its size is always copied
const PIN_SLACK = 2 * 1024 * 1024; // and none while the queue's buffers stay within twice it plus this
const ARENA_BYTES = 8 * 1024; // small copies into a queue share one of these
// Per channel: the runs of its queue that lie in one buffer each, oldest first, and the
// queued bytes in each buffer, whose sizes together are what the queue keeps alive.
function channelPins(channel) {
  let pins = channel._p2pvpsPins;
  if (pins === undefined) {
    pins = { bufs: [], bytes: [], head: 0, queued: 0, inBuf: new Map(), pinned: 0, arena: null, used: 0 };
    channel._p2pvpsPins = pins;
  }
  // What the reader took since the last payload came off the oldest runs.
  let gone = pins.queued - channel.readableLength;
  while (gone > 0 && pins.head < pins.bufs.length) {
    const buf = pins.bufs[pins.head];
    const n = Math.min(pins.bytes[pins.head], gone);
    gone -= n;
    pins.queued -= n;
    pins.bytes[pins.head] -= n;
    const left = pins.inBuf.get(buf) - n;
    if (left > 0) {
      pins.inBuf.set(buf, left);
    } else {
      pins.inBuf.delete(buf);
      pins.pinned -= buf.byteLength;
    }
    if (pins.bytes[pins.head] === 0)
      pins.bufs[pins.head++] = undefined;
  }
  if (pins.head === pins.bufs.length) {
    // Nothing queued (and so nothing counted): no runs kept, no arena holding earlier bytes.
    pins.bufs.length = pins.bytes.length = pins.head = 0;
    pins.arena = null;
  } else if (pins.head > 1024 && pins.head * 2 > pins.bufs.length) {
    pins.bufs.splice(0, pins.head);
    pins.bytes.splice(0, pins.head);
    pins.head = 0;
  }
  return pins;
}
function channelPayload(channel, data) {
  const len = data.length;
  const pins = channelPins(channel);
  const size = data.buffer.byteLength;
  let out = data;
  if (size > PIN_ALWAYS * len
      || (!pins.inBuf.has(data.buffer)
          && pins.pinned + size > 2 * (pins.queued + len) + PIN_SLACK)) {
    if (pins.queued === 0 || len > ARENA_BYTES / 4) {
      out = Buffer.allocUnsafeSlow(len);
    } else {
      if (pins.arena === null || pins.arena.length - pins.used < len) {
        pins.arena = Buffer.allocUnsafeSlow(ARENA_BYTES);
        pins.used = 0;
      }
      out = pins.arena.subarray(pins.used, pins.used + len);
      pins.used += len;
    }
    out.set(data);
    slabWritten(data)?.(); // the view is no longer kept: its slab may go back to the pool
  }
  if (len === 0)
    return out;
  const buf = out.buffer;
  const last = pins.bufs.length - 1;
  if (last >= pins.head && pins.bufs[last] === buf) {
    pins.bytes[last] += len;
  } else {
    pins.bufs.push(buf);
    pins.bytes.push(len);
  }
  const had = pins.inBuf.get(buf);
  if (had === undefined) {
    pins.inBuf.set(buf, len);
    pins.pinned += buf.byteLength;
  } else {
    pins.inBuf.set(buf, had + len);
  }
  pins.queued += len;
  return out;
}
`;

const slabPoolCode = `
// ${marker}: read slabs, reused once every data payload decrypted in them has been written.
const SLAB_BYTES = 1024 * 1024;
const SLAB_POOL_MAX = 4; // what a 2 MiB channel window and the slab being read keep in flight
const SLAB_POOL_IDLE_MS = 10000; // a pool not drawn on for this long is given back
const SLAB_POOL = [];
const SLABS = new WeakMap(); // a slab's ArrayBuffer -> { held, refs, marked }
const slabCounts = { taken: 0, reused: 0 };
let slabPoolTimer;
function slabTake() {
  let slab = SLAB_POOL.pop();
  if (slab === undefined)
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  else
    ++slabCounts.reused;
  ++slabCounts.taken;
  SLABS.set(slab.buffer, { held: true, refs: 0, marked: false });
  if (slabPoolTimer === undefined) {
    slabPoolTimer = setTimeout(() => {
      slabPoolTimer = undefined;
      SLAB_POOL.length = 0;
    }, SLAB_POOL_IDLE_MS);
    slabPoolTimer.unref();
  } else {
    slabPoolTimer.refresh();
  }
  return slab;
}
function slabRecycle(ab, state) {
  if (state.held || state.refs !== 0 || state.marked)
    return;
  SLABS.delete(ab);
  if (slabPoolTimer !== undefined && SLAB_POOL.length < SLAB_POOL_MAX)
    SLAB_POOL.push(new FastBuffer(ab));
}
// The reader has moved on to another slab, and nothing of this one is left in the decipher.
function slabDrop(slab) {
  const state = SLABS.get(slab.buffer);
  if (state === undefined)
    return;
  state.held = false;
  slabRecycle(slab.buffer, state);
}
// Every received payload: channel data counts one view to be written; anything else marks its slab.
function slabPayload(payload, isData) {
  const state = SLABS.get(payload.buffer);
  if (state === undefined)
    return;
  if (isData)
    ++state.refs;
  else
    state.marked = true;
}
// The write callback for data that may be a view of a slab; undefined if it is not one.
function slabWritten(data) {
  const ab = data.buffer;
  const state = SLABS.get(ab);
  if (state === undefined)
    return undefined;
  return (err) => {
    if (err || --state.refs < 0)
      state.marked = true;
    else
      slabRecycle(ab, state);
  };
}
`;

/** file (under ssh2/lib), the text as shipped, what it becomes, how often the text occurs. */
export const edits = [
  {
    file: 'Channel.js',
    from: 'const PACKET_SIZE = 32 * 1024;',
    to: `const PACKET_SIZE = ${patchedPacketSize}; // ${marker}: one packet per 64 KiB socket read`,
    count: 1,
  },
  {
    file: 'protocol/crypto.js',
    from: 'const MAX_PACKET_SIZE = 35000;',
    to: `const MAX_PACKET_SIZE = ${patchedPacketSize} + 1024; // ${marker}: accepts what Channel.js advertises\n${poolCode}`,
    count: 1,
  },
  {
    file: 'protocol/crypto.js',
    from: '    randomFillSync(packet, 5 + payloadLen, padLen);',
    to: `    fillPadding(packet, 5 + payloadLen, padLen); // ${marker}`,
    count: 7,
  },
  // 4. Pooled packets for the two AEAD ciphers' native bindings (the ones the tunnel offers),
  //    handed back by the write callback.
  {
    file: 'protocol/crypto.js',
    from: 'let binding;\n',
    to: `let binding; // ${marker}: the packet pool follows\n${packetPoolCode}`,
    count: 1,
  },
  {
    file: 'protocol/crypto.js',
    from: 'const packet = Buffer.allocUnsafe(pktLen + 16/* MAC */);',
    to: `const packet = allocPacketBuffer(pktLen + 16/* MAC */); // ${marker}`,
    count: 1,
  },
  {
    file: 'protocol/crypto.js',
    from: 'const packet = Buffer.allocUnsafe(pktLen + 16/* authTag */);',
    to: `const packet = allocPacketBuffer(pktLen + 16/* authTag */); // ${marker}`,
    count: 1,
  },
  {
    file: 'protocol/crypto.js',
    from: '    this._instance.encrypt(packet, this.outSeqno);\n\n    this._onWrite(packet);',
    to: `    this._instance.encrypt(packet, this.outSeqno);\n\n    this._onWrite(packet, packetWritten(packet)); // ${marker}`,
    count: 1,
  },
  {
    file: 'protocol/crypto.js',
    from: '    this._instance.encrypt(packet);\n\n    this._onWrite(packet);',
    to: `    this._instance.encrypt(packet);\n\n    this._onWrite(packet, packetWritten(packet)); // ${marker}`,
    count: 1,
  },
  // 5. A straddling packet decrypted in place when its parts are contiguous.
  {
    file: 'protocol/crypto.js',
    from: [
      '        } else {',
      '          if (!this._packet)',
      '            this._packet = Buffer.allocUnsafe(this._len);',
      '          this._packet.set(encrypted, this._pktLen);',
      '        }',
    ].join('\n'),
    to: [
      '        } else {',
      `          this._packet = joinFragment(this._packet, this._pktLen, encrypted, this._len); // ${marker}`,
      '        }',
    ].join('\n'),
    count: 4,
  },
  // 6. A whole read sent where it lies, for the two AEAD bindings.
  {
    file: 'protocol/crypto.js',
    from: 'module.exports = {\n  CIPHER_INFO,',
    to: [
      `// ${marker}: a packet written around data read into its payload area`,
      'AESGCMCipherBinding.prototype.allocPacketAround = function(data) { return packetAround(data, 16); };',
      'ChaChaPolyCipherBinding.prototype.allocPacketAround = function(data) { return packetAround(data, 8); };',
      '',
      `module.exports = {\n  packetReadBuffer, // ${marker}\n  packetRead, // ${marker}\n  CIPHER_INFO,`,
    ].join('\n'),
    count: 1,
  },
  {
    file: 'protocol/Protocol.js',
    from: [
      '    let p = this._packetRW.write.allocStart;',
      '    const packet = this._packetRW.write.alloc(1 + 4 + 4 + dataLen);',
      '',
      '    packet[p] = MESSAGE.CHANNEL_DATA;',
    ].join('\n'),
    to: [
      '    let p = this._packetRW.write.allocStart;',
      `    // ${marker}: data read into a pooled packet's payload area is sent where it lies`,
      '    const around = (isBuffer && p === 5 && this._kexinit === undefined',
      '                    && this._cipher.allocPacketAround',
      '                    && this._cipher.allocPacketAround(data));',
      '    const packet = around || this._packetRW.write.alloc(1 + 4 + 4 + dataLen);',
      '',
      '    packet[p] = MESSAGE.CHANNEL_DATA;',
    ].join('\n'),
    count: 1,
  },
  {
    file: 'protocol/Protocol.js',
    from: [
      '    if (isBuffer)',
      '      packet.set(data, p += 4);',
      '    else',
      '      packet.utf8Write(data, p += 4, dataLen);',
      '',
      '    this._debug && this._debug(',
      '      `Outbound: Sending CHANNEL_DATA',
    ].join('\n'),
    to: [
      '    if (isBuffer) {',
      `      if (!around) // ${marker}`,
      '        packet.set(data, p += 4);',
      '    } else {',
      '      packet.utf8Write(data, p += 4, dataLen);',
      '    }',
      '',
      '    this._debug && this._debug(',
      '      `Outbound: Sending CHANNEL_DATA',
    ].join('\n'),
    count: 1,
  },
  // 7. The read slabs' pool, and every received payload counted against its slab. Only
  //    shipped text no edit above touches, so a node_modules patched before this takes just these.
  {
    file: 'protocol/crypto.js',
    from: '  createDecipher,\n};\n',
    to: [
      `  createDecipher,\n}; // ${marker}: the read slabs' pool follows`,
      slabPoolCode,
      'Object.assign(module.exports, { slabTake, slabDrop, slabPayload, slabWritten, slabCounts });',
      '',
    ].join('\n'),
    count: 1,
  },
  {
    file: 'protocol/Protocol.js',
    from: "const { bindingAvailable, NullCipher, NullDecipher } = require('./crypto.js');",
    to: `const { bindingAvailable, NullCipher, NullDecipher, slabPayload } = require('./crypto.js'); // ${marker}`,
    count: 1,
  },
  {
    file: 'protocol/Protocol.js',
    from: '  // XXX: move this to the Decipher implementations?\n\n  this._onPacket();',
    to: `  // XXX: move this to the Decipher implementations?\n\n  slabPayload(payload, payload[0] === MESSAGE.CHANNEL_DATA); // ${marker}\n  this._onPacket();`,
    count: 1,
  },
  {
    file: 'protocol/Protocol.js',
    from: 'this._onWrite = (data) => { onWrite(data); };',
    to: `this._onWrite = (data, cb) => { onWrite(data, cb); }; // ${marker}: the write callback frees pooled packets`,
    count: 1,
  },
  {
    file: 'client.js',
    from: '      onWrite: (data) => {\n        if (isWritable(sock))\n          sock.write(data);',
    to: `      onWrite: (data, cb) => { // ${marker}\n        if (isWritable(sock))\n          sock.write(data, cb);`,
    count: 1,
  },
  {
    file: 'server.js',
    from: '      onWrite: (data) => {\n        if (isWritable(socket))\n          socket.write(data);',
    to: `      onWrite: (data, cb) => { // ${marker}\n        if (isWritable(socket))\n          socket.write(data, cb);`,
    count: 1,
  },
  // 8. The body kept past its read while the tag is still to come: copied out of a read slab.
  {
    file: 'protocol/crypto.js',
    from: 'class NullDecipher {\n',
    to: [
      `// ${marker}: a packet body the decipher keeps until its tag arrives, out of the read slab it lies in.`,
      'function slabDetach(view) {',
      '  if (!view || !SLABS.has(view.buffer))',
      '    return view;',
      '  return Buffer.from(view);',
      '}',
      '',
      `class NullDecipher { // ${marker}: slabDetach above`,
      '',
    ].join('\n'),
    count: 1,
  },
  {
    file: 'protocol/crypto.js',
    from: '        if (this._pktLen < this._len || p >= dataLen)\n          return;',
    to: [
      '        if (this._pktLen < this._len)',
      '          return;',
      '        if (p >= dataLen) {',
      `          this._packet = slabDetach(this._packet); // ${marker}`,
      '          return;',
      '        }',
    ].join('\n'),
    count: 6,
  },
  {
    file: 'protocol/crypto.js',
    from: '        if (this._macPos < 16)\n          return;',
    to: `        if (this._macPos < 16) {\n          this._packet = slabDetach(this._packet); // ${marker}\n          return;\n        }`,
    count: 2,
  },
  {
    file: 'protocol/crypto.js',
    from: '        if (this._tagPos < 16)\n          return;',
    to: `        if (this._tagPos < 16) {\n          this._packet = slabDetach(this._packet); // ${marker}\n          return;\n        }`,
    count: 2,
  },
  // 9. Nothing past the window; on the server's side, no payload that pins a read buffer many times its size.
  {
    file: 'client.js',
    from: '          if (channel.incoming.window === 0)\n            return;\n',
    to: `          if (channel.incoming.window < data.length) // ${marker}: nothing past the window\n            return;\n`,
    count: 2,
  },
  {
    file: 'server.js',
    from: '          if (channel.incoming.window === 0)\n            return;\n',
    to: `          if (channel.incoming.window < data.length) // ${marker}: nothing past the window\n            return;\n`,
    count: 1,
  },
  {
    file: 'server.js',
    from: "const { init: cryptoInit } = require('./protocol/crypto.js');",
    to: [`const { init: cryptoInit, slabWritten } = require('./protocol/crypto.js'); // ${marker}`, channelPinsCode].join('\n'),
    count: 1,
  },
  {
    file: 'server.js',
    from: '          if (channel.push(data) === false) {',
    to: `          if (channel.push(channelPayload(channel, data)) === false) { // ${marker}`,
    count: 1,
  },
];

function ssh2Lib() {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('ssh2/package.json')), 'lib');
}

/** Applies the edits (or with `check`, only looks); returns what was not yet applied. */
export function patchSsh2({ check = false, lib = ssh2Lib() } = {}) {
  const pending = [];
  const files = new Map();
  for (const edit of edits) {
    const path = join(lib, edit.file);
    const text = files.get(path) ?? readFileSync(path, 'utf8');
    const found = text.split(edit.from).length - 1;
    const done = text.split(edit.to).length - 1;
    if (found === 0 && done === edit.count) continue;
    if (found !== edit.count || done !== 0)
      throw new Error(
        `ssh2-patch: ${path} is not the ssh2 this patch was written for (expected ${edit.count} × ${JSON.stringify(edit.from)}, found ${found}; ${done} already patched)`,
      );
    pending.push(`${edit.file}: ${edit.from.trim()}`);
    files.set(path, text.split(edit.from).join(edit.to));
  }
  if (!check) for (const [path, text] of files) writeFileSync(path, text);
  return pending;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const check = process.argv.includes('--check');
  try {
    const pending = patchSsh2({ check });
    if (check && pending.length) {
      console.error(`ssh2 is not patched for the tunnel (run node packages/protocol/ssh2-patch.mjs):\n  ${pending.join('\n  ')}`);
      process.exit(1);
    }
    if (!check && pending.length) console.error(`patched ssh2 for the tunnel: ${pending.length} edit(s)`);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
