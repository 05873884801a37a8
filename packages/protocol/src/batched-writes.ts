import type { Socket } from 'node:net';

/**
 * Makes the writes a socket gets within one tick leave as one writev. ssh2 writes every
 * SSH packet on its own (a channel open, its data, EOF and close are four), and each
 * write is a syscall of its own: in the tunnel's profiles the write syscall was the
 * largest single cost on both ends. Corked at the first write of a tick and uncorked
 * once the tick's work is done, the order of bytes is unchanged and nothing waits past
 * the current tick.
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
      process.nextTick(uncork);
    }
    return write.apply(this, args);
  } as Socket['write'];
}
