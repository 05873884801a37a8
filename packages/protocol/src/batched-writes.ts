import type { Socket } from 'node:net';

/**
 * Makes the writes a socket gets within one turn of the event loop leave as one writev.
 * ssh2 writes every SSH packet on its own (a channel open, its data, EOF and close are
 * four), and each write is a syscall of its own: in the tunnel's profiles the write
 * syscall was the largest single cost on both ends. Corked at the first write and
 * uncorked in the loop's check phase (setImmediate), once every socket event of this turn
 * has been handled: the packets of all the reads that arrived together (the requests of
 * fifty keep-alive visitors, the responses of their origins) leave in one write, where an
 * uncork per tick (process.nextTick) gave one write per read. The order of bytes is
 * unchanged and nothing waits for more than the rest of the current turn.
 *
 * A batch that has grown to a full packet's worth leaves at the end of the current tick,
 * as before: a stream in bulk (a turn can read 32 times 64 KiB from one socket) goes on
 * while it is read, so the peer works on it meanwhile.
 */
export function batchWritesPerTick(socket: Socket): void {
  const write = socket.write;
  let corked = false;
  let soon = false;
  const uncork = () => {
    soon = false;
    if (!corked) return;
    corked = false;
    socket.uncork();
  };
  socket.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    const ok = write.apply(this, args);
    if (!soon && socket.writableLength >= bulkBytes) {
      soon = true;
      process.nextTick(uncork);
    }
    return ok;
  } as Socket['write'];
}

/** Buffered bytes from which a batch leaves at the end of the tick: one full SSH packet. */
const bulkBytes = 64 * 1024;
