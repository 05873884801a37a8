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
 */
export function batchWritesPerTick(socket: Socket): void {
  const write = socket.write;
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  socket.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    return write.apply(this, args);
  } as Socket['write'];
}
