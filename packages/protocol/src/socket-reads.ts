import { createRequire } from 'node:module';
import { connect, Socket, type TcpNetConnectOpts } from 'node:net';
import type { Writable } from 'node:stream';

/** Reads land one after another in a slab this large (untouched pages cost no memory), without the patched ssh2's pool. */
const slabBytes = 1024 * 1024;
/** Each read is given at least this much room: Node's own read size. */
const minReadBytes = 64 * 1024;
/** What a socket that reads little waits with (connectWithPacketReads). */
const quietReadBytes = 4 * 1024;

/** Where each read goes, and what to do once it is there. */
interface Reads {
  next(): Buffer;
  read(buffer: Buffer, bytes: number): void;
  /** After the read's 'data' listeners (ssh2's parser) have run. */
  done?(): void;
}

/**
 * A socket whose reads go where `reads` says, each emitted as 'data' as Node's own reads
 * are (what ssh2 and `pipe` listen to). End, pause and resume work as usual.
 */
function connectWithReads(options: TcpNetConnectOpts, reads: Reads): Socket {
  const socket: Socket = connect({ ...options, onread: onread(() => socket, reads) });
  return socket;
}

function onread(socket: () => Socket, reads: Reads) {
  return {
    buffer: () => reads.next(),
    callback: (bytes: number, buffer: Uint8Array) => {
      const data = Buffer.from(buffer.buffer, buffer.byteOffset, bytes);
      reads.read(data, bytes);
      socket().emit('data', data);
      reads.done?.();
      // Backpressure is the stream's own: pause() stops reading, resume() starts it again.
      return true;
    },
  };
}

/**
 * Connects a socket whose reads land one after another in 1 MiB slabs instead of a new
 * 64 KiB Buffer each. For the tunnel's SSH connection: an SSH packet of 64 KiB and a bit
 * never fits one 64 KiB read, so nearly every packet straddles two, and ssh2 copied each
 * such packet into a Buffer of its own before decrypting it. With the reads side by side in
 * memory the patched ssh2 decrypts the packet where it lies (packages/protocol/ssh2-patch.mjs,
 * `joinFragment`); and a read may take up to what is left of the slab, so a busy tunnel
 * needs fewer read calls.
 *
 * The decrypted data handed on (by reference, to the channel and the socket behind it) stays
 * as it was for as long as anything holds it: with the patched ssh2 a slab is taken from its
 * pool and goes back only once every data view of it has been written by a socket that says
 * so (releaseSlabsOnWrite) and no other packet was read from it (`slabPayload`); otherwise
 * it goes to the garbage collector with its last view. The reader gives a slab up only after
 * the first read into the next one has been parsed: until then the decipher may still hold
 * the first part of a packet that straddles the two (then copied, as the two are not side by side).
 */
export function connectWithSlabReads(options: TcpNetConnectOpts): Socket {
  const { slabTake, slabDrop } = ssh2Crypto();
  const take = slabTake ?? (() => Buffer.allocUnsafeSlow(slabBytes));
  // Node asks for the first buffer as it connects: that one is small, so a device retrying a
  // server that refuses it (thousands of them, after a restart) does not take a slab per
  // attempt; the slab comes with the second read, once the server has answered.
  let slab: Buffer = Buffer.alloc(0);
  let used = 0;
  let first = true;
  let left: Buffer | undefined;
  return connectWithReads(options, {
    next: () => {
      if (first) {
        first = false;
        return Buffer.allocUnsafeSlow(quietReadBytes);
      }
      if (slab.length - used < minReadBytes) {
        if (slab.length) left = slab;
        slab = take();
        used = 0;
      }
      return slab.subarray(used);
    },
    read: (_buffer, bytes) => void (used += bytes),
    done: () => {
      if (left && used > 0) {
        slabDrop?.(left);
        left = undefined;
      }
    },
  });
}

/**
 * Gives a read slab back to the patched ssh2's pool once this socket has written the data
 * of it: for the agent's origin connections, where the tunnel's channel data is piped. Only
 * for a socket that is the data's last stop (written, then dropped); data of anything but a
 * slab is written as before.
 */
export function releaseSlabsOnWrite(socket: Socket): void {
  const { slabWritten } = ssh2Crypto();
  if (!slabWritten) return;
  const write = socket.write;
  socket.write = function (this: Socket, chunk: string | Uint8Array, encoding?: unknown, callback?: unknown) {
    const written = typeof chunk === 'string' ? undefined : slabWritten(chunk);
    if (!written) return write.call(this, chunk, encoding as BufferEncoding, callback as () => void);
    if (typeof encoding === 'function') [encoding, callback] = [undefined, encoding];
    const then = callback as ((err?: Error | null) => void) | undefined;
    return write.call(this, chunk, encoding as BufferEncoding, (err?: Error | null) => {
      written(err);
      then?.(err);
    });
  } as Socket['write'];
}

interface PatchedCrypto {
  packetReadBuffer?: () => Buffer;
  packetRead?: (buffer: Buffer, bytes: number) => void;
  slabTake?: () => Buffer;
  slabDrop?: (slab: Buffer) => void;
  slabWritten?: (data: Uint8Array) => ((err?: Error | null) => void) | undefined;
  slabCounts?: { taken: number; reused: number };
}
let patchedCrypto: PatchedCrypto | undefined;
/**
 * ssh2's crypto module, the same instance ssh2 uses (and so the same packet pool). Loaded on
 * first use, not at import: the agent's bundle puts a stand-in for ssh2's WebAssembly
 * Poly1305 in place before ssh2 loads (packages/agent/build.mjs), which loading crypto.js
 * here first would bypass.
 */
const ssh2Crypto = (): PatchedCrypto => (patchedCrypto ??= createRequire(import.meta.url)('ssh2/lib/protocol/crypto.js') as PatchedCrypto);

/**
 * Connects a socket whose data will go into an SSH channel: each read lands in a pooled
 * SSH packet of the patched ssh2, where a channel data packet's payload goes, and a read
 * written to the channel whole goes out as that packet, encrypted where it lies: no copy
 * and no new Buffer per packet (packages/protocol/ssh2-patch.mjs, `packetAround`). Any other
 * use of the data (split by the window, read by someone else first) is only a copy, as
 * without this. Whoever reads the socket must not keep its data after writing it to the
 * channel: it is encrypted in place and the memory reused once sent. With an ssh2 that is
 * not patched, an ordinary socket.
 */
export function connectWithPacketReads(options: TcpNetConnectOpts): Socket {
  let socket: Socket | undefined;
  const reads = packetReads(() => socket);
  if (!reads) return connect(options);
  socket = connectWithReads(options, reads);
  return socket;
}

/** `socketOf` names the socket reading, once there is one (readsOnlyInto is asked of it). */
function packetReads(socketOf: () => Socket | undefined): Reads | undefined {
  const { packetReadBuffer, packetRead } = ssh2Crypto();
  if (!packetReadBuffer || !packetRead) return undefined;
  // A socket waits for its next read holding the buffer it was given (Node's own reads take
  // memory only once data is there): a quiet one (an idle keep-alive connection) waits with
  // 4 KiB of its own, one that filled that gets packets until a read comes back small.
  let bulk = false;
  let quiet: Buffer | undefined;
  return {
    next: () => {
      if (bulk) return packetReadBuffer();
      // The same 4 KiB again once its last read is gone from it (copied into a packet):
      // a new one per read was a tenth of the agent's work in the keep-alive bench (every
      // small HTTP response is one such read), and the garbage collections it brought.
      const socket = socketOf();
      if (!quiet || !socket || !released(socket)) quiet = Buffer.allocUnsafeSlow(quietReadBytes);
      return quiet;
    },
    read: (buffer, bytes) => {
      if (bulk) packetRead(buffer, bytes);
      bulk = bytes >= quietReadBytes;
    },
  };
}

const soleSinks = new WeakMap<Socket, Writable>();

/**
 * Says that whatever `socket` (from connectWithPacketReads) reads is written to `sink` and
 * to nothing else, so a read it has taken whole (nothing of it still queued, `writableLength`
 * 0: an SSH channel copies what it sends into a packet at once) is gone from the read
 * buffer, and the buffer can take the next read. Without this every read gets a new buffer.
 */
export function readsOnlyInto(socket: Socket, sink: Writable): void {
  soleSinks.set(socket, sink);
}

function released(socket: Socket): boolean {
  const sink = soleSinks.get(socket);
  return sink !== undefined && sink.writableLength === 0 && !sink.destroyed;
}

/** Node's own keys for what the `onread` option sets on a socket, read off a socket made with it. */
interface OnreadKeys {
  buffer: symbol;
  callback: symbol;
  generate: symbol;
}
let onreadKeys: OnreadKeys | null | undefined;
function findOnreadKeys() {
  if (onreadKeys !== undefined) return onreadKeys;
  // Node types `onread` for connect() only; the Socket constructor takes it too.
  const probe = new Socket({ onread: { buffer: () => Buffer.alloc(0), callback: () => true } } as ConstructorParameters<typeof Socket>[0]);
  const byName = new Map(Object.getOwnPropertySymbols(probe).map((key) => [key.description, key]));
  const [buffer, callback, generate] = [byName.get('kBuffer'), byName.get('kBufferCb'), byName.get('kBufferGen')];
  onreadKeys = buffer && callback && generate ? { buffer, callback, generate } : null;
  return onreadKeys;
}

/**
 * connectWithPacketReads for a socket a server accepted (the gateway's visitors): Node takes
 * `onread` only when it makes the socket, so this sets what that option would have set, on
 * a socket that has not read yet (its server made with `pauseOnConnect`). Returns false, the
 * socket reading as Node does, where that is not possible (an ssh2 without the patch, a Node
 * whose sockets keep `onread` elsewhere, a socket already reading). Same rules as
 * connectWithPacketReads: only for data written to an SSH channel and not kept.
 */
export function readIntoPackets(socket: Socket): boolean {
  const handle = handleOf(socket);
  const keys = findOnreadKeys();
  const reads = packetReads(() => socket);
  if (!keys || !reads || !handle?.useUserBuffer || handle.reading || socket.readableFlowing || socket.readableLength) return false;
  readsFromNowOn(socket, keys, reads);
  return true;
}

/** Sets what the `onread` option would have set on `socket`: its next read goes where `reads` says. */
function readsFromNowOn(socket: Socket, keys: OnreadKeys, reads: Reads): void {
  const handle = handleOf(socket);
  if (!handle?.useUserBuffer) return;
  const { buffer, callback } = onread(() => socket, reads);
  const first = buffer();
  const target = socket as unknown as Record<symbol, unknown>;
  target[keys.generate] = buffer;
  target[keys.callback] = callback;
  target[keys.buffer] = first;
  handle.useUserBuffer(first);
}

/** A slab-reading socket whose reads have all been small for this long goes back to small buffers. */
const quietAfterMs = 1000;
/** A read at least this large keeps a socket on slabs. */
const busyReadBytes = 16 * 1024;
/**
 * At most this many sockets read into slabs at once (about 2 MiB each: the slab being read and
 * the one before it), so thousands of tunnels busy at once cost the gateway no more than
 * Node's own reads would; the others read into a new 64 KiB Buffer per read, as Node does.
 */
const maxSlabReaders = 16;
let slabReaders = 0;

/**
 * connectWithSlabReads for a socket a server accepted that may sit idle for days (the
 * gateway's device tunnels: thousands of them, mostly quiet): it reads as Node does (no
 * memory held while it waits) until a read fills Node's 64 KiB, and from then on, while it
 * stays busy, into 1 MiB slabs from the patched ssh2's pool (or, with 16 sockets on slabs
 * already, a new 64 KiB Buffer per read), so a download's packets are decrypted where they
 * lie and the slabs come back once the visitor's socket has written them
 * (releaseSlabsOnWrite) instead of a new Buffer per read for the garbage collector. Once its
 * reads have all been small (under 4 KiB) for a second, it reads into a new 4 KiB Buffer
 * each time and gives the slab up (back to the pool once its data is written), until a read
 * fills the 4 KiB again. A socket that was never busy is untouched (one listener all such
 * sockets share); one that was holds 4 KiB while it waits, or a slab's rest until its next
 * read if it went quiet during a download. Returns false, leaving Node's reads, where the
 * socket or ssh2 cannot do this.
 */
export function readIntoSlabsWhileBusy(socket: Socket, quietMs = quietAfterMs): boolean {
  const { slabTake, slabDrop } = ssh2Crypto();
  if (!findOnreadKeys() || !slabTake || !slabDrop || !handleOf(socket)?.useUserBuffer) return false;
  // Nothing of its own per socket until it is busy (thousands of tunnels wait): one shared listener.
  if (quietMs !== quietAfterMs) quietAfter.set(socket, quietMs);
  socket.on('data', watchForBulk);
  return true;
}

/** Sockets reading into slabs now (for tests and the bench). */
export function slabReaderCount(): number {
  return slabReaders;
}

const quietAfter = new WeakMap<Socket, number>();

/** Node's own reads until one fills its 64 KiB and a slab is free to read into; the next read already lands in it. */
function watchForBulk(this: Socket, chunk: Buffer): void {
  if (chunk.length < minReadBytes || slabReaders >= maxSlabReaders) return;
  this.off('data', watchForBulk);
  const keys = findOnreadKeys();
  // Anything still queued in the stream would come after what the new reads emit.
  if (!keys || this.destroyed || this.readableLength) return;
  const reads = slabReadsWhileBusy(quietAfter.get(this) ?? quietAfterMs);
  this.once('close', reads.close);
  readsFromNowOn(this, keys, reads);
}

function slabReadsWhileBusy(quietMs: number): Reads & { close(): void } {
  const { slabTake, slabDrop } = ssh2Crypto() as Required<PatchedCrypto>;
  // 'slab' counts against maxSlabReaders; 'buffers' is busy without one (a new 64 KiB per read).
  let mode: 'slab' | 'buffers' | 'quiet' = 'slab';
  ++slabReaders;
  let lastBusy = Date.now();
  let slab: Buffer | undefined;
  let used = 0;
  let left: Buffer | undefined;
  let offered = 0;
  const busy = () => {
    lastBusy = Date.now();
    if (mode === 'slab') return;
    if (slabReaders < maxSlabReaders) {
      mode = 'slab';
      ++slabReaders;
    } else {
      mode = 'buffers';
    }
  };
  const quiet = () => {
    if (mode === 'slab') --slabReaders;
    mode = 'quiet';
  };
  return {
    next: () => {
      if (mode !== 'slab') {
        if (slab) [left, slab] = [slab, undefined];
        offered = mode === 'quiet' ? quietReadBytes : minReadBytes;
        return Buffer.allocUnsafeSlow(offered);
      }
      if (!slab || slab.length - used < minReadBytes) {
        if (slab) left = slab;
        [slab, used] = [slabTake(), 0];
      }
      return slab.subarray(used);
    },
    read: (buffer, bytes) => {
      if (buffer.buffer === slab?.buffer) used += bytes;
      if (mode === 'quiet' ? bytes === offered : bytes >= busyReadBytes) busy();
      else if (mode !== 'quiet' && bytes < quietReadBytes && Date.now() - lastBusy > quietMs) quiet();
    },
    // The slab moved off is given up only once the read after it has been parsed: until
    // then the decipher may still hold the first part of a packet that straddles the two.
    done: () => {
      if (left) slabDrop(left);
      left = undefined;
    },
    close: quiet,
  };
}

function handleOf(socket: Socket) {
  return (socket as unknown as { _handle?: { reading?: boolean; useUserBuffer?(b: Uint8Array): void } })._handle;
}

/** Slabs taken by tunnel readers so far, and how many of them came from the pool (for tests and the bench). */
export function slabCounts(): { taken: number; reused: number } {
  return { ...(ssh2Crypto().slabCounts ?? { taken: 0, reused: 0 }) };
}
