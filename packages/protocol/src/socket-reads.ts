import { createRequire } from 'node:module';
import { connect, type Socket, type TcpNetConnectOpts } from 'node:net';
import type { Writable } from 'node:stream';

/** Reads land one after another in a slab this large (untouched pages cost no memory). */
const slabBytes = 1024 * 1024;
/** Each read is given at least this much room: Node's own read size. */
const minReadBytes = 64 * 1024;
/** What a socket that reads little waits with (connectWithPacketReads). */
const quietReadBytes = 4 * 1024;

/** Where each read goes, and what to do once it is there. */
interface Reads {
  next(): Buffer;
  read(buffer: Buffer, bytes: number): void;
}

/**
 * A socket whose reads go where `reads` says, each emitted as 'data' as Node's own reads
 * are (what ssh2 and `pipe` listen to). End, pause and resume work as usual.
 */
function connectWithReads(options: TcpNetConnectOpts, reads: Reads): Socket {
  const socket = connect({
    ...options,
    onread: {
      buffer: () => reads.next(),
      callback: (bytes: number, buffer: Uint8Array) => {
        const data = Buffer.from(buffer.buffer, buffer.byteOffset, bytes);
        reads.read(data, bytes);
        socket.emit('data', data);
        // Backpressure is the stream's own: pause() stops reading, resume() starts it again.
        return true;
      },
    },
  });
  return socket;
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
 * A slab is never written twice: the decrypted data handed on (by reference, to the
 * channel and the socket behind it) stays as it was for as long as anything holds it, and
 * the slab goes to the garbage collector with its last view.
 */
export function connectWithSlabReads(options: TcpNetConnectOpts): Socket {
  // Node asks for the first buffer as it connects: that one is small, so a device retrying a
  // server that refuses it (thousands of them, after a restart) does not take a slab per
  // attempt; the slab comes with the second read, once the server has answered.
  let slab = Buffer.alloc(0);
  let used = 0;
  let first = true;
  return connectWithReads(options, {
    next: () => {
      if (first) {
        first = false;
        return Buffer.allocUnsafeSlow(quietReadBytes);
      }
      if (slab.length - used < minReadBytes) {
        slab = Buffer.allocUnsafeSlow(slabBytes);
        used = 0;
      }
      return slab.subarray(used);
    },
    read: (_buffer, bytes) => void (used += bytes),
  });
}

interface PatchedCrypto {
  packetReadBuffer?: () => Buffer;
  packetRead?: (buffer: Buffer, bytes: number) => void;
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
  const { packetReadBuffer, packetRead } = ssh2Crypto();
  if (!packetReadBuffer || !packetRead) return connect(options);
  // A socket waits for its next read holding the buffer it was given (Node's own reads take
  // memory only once data is there): a quiet one (an idle keep-alive connection) waits with
  // 4 KiB of its own, one that filled that gets packets until a read comes back small.
  let bulk = false;
  let quiet: Buffer | undefined;
  const socket: Socket = connectWithReads(options, {
    next: () => {
      if (bulk) return packetReadBuffer();
      // The same 4 KiB again once its last read is gone from it (copied into a packet):
      // a new one per read was a tenth of the agent's work in the keep-alive bench (every
      // small HTTP response is one such read), and the garbage collections it brought.
      if (!quiet || !released(socket)) quiet = Buffer.allocUnsafeSlow(quietReadBytes);
      return quiet;
    },
    read: (buffer, bytes) => {
      if (bulk) packetRead(buffer, bytes);
      bulk = bytes >= quietReadBytes;
    },
  });
  return socket;
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
