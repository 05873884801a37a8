import { connect, type NetConnectOpts, type Socket } from 'node:net';

/** Reads land one after another in a slab this large (untouched pages cost no memory). */
const slabBytes = 1024 * 1024;
/** Each read is given at least this much room: Node's own read size. */
const minReadBytes = 64 * 1024;

/**
 * Connects a socket whose reads land one after another in 1 MiB slabs instead of a new
 * 64 KiB Buffer each, and are emitted as 'data' (what ssh2 listens to). For the tunnel's
 * SSH connection: an SSH packet of 64 KiB and a bit never fits one 64 KiB read, so nearly
 * every packet straddles two, and ssh2 copied each such packet into a Buffer of its own
 * before decrypting it. With the reads side by side in memory the patched ssh2 decrypts the
 * packet where it lies (packages/protocol/ssh2-patch.mjs, "joinFragment"); and a read may
 * take up to what is left of the slab, so a busy tunnel needs fewer read calls.
 *
 * A slab is never written twice: the decrypted data handed on (by reference, to the
 * channel and the socket behind it) stays as it was for as long as anything holds it, and
 * the slab goes to the garbage collector with its last view.
 */
export function connectWithSlabReads(options: NetConnectOpts): Socket {
  let slab = Buffer.allocUnsafeSlow(slabBytes);
  let used = 0;
  const socket = connect({
    ...options,
    onread: {
      buffer: () => {
        if (slab.length - used < minReadBytes) {
          slab = Buffer.allocUnsafeSlow(slabBytes);
          used = 0;
        }
        return slab.subarray(used);
      },
      callback: (bytes: number, buffer: Uint8Array) => {
        used += bytes;
        socket.emit('data', Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
      },
    },
  } as NetConnectOpts);
  return socket;
}
