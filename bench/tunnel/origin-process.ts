/**
 * The throughput origin, in its own process: a loopback TCP server that, per connection,
 * reads a 9-byte request, then by its first byte:
 *   `U` + size  upload: swallows `size` bytes and answers one byte;
 *   `D` + size  download: sends `size` bytes and waits for the client to hang up;
 *   `E` + size  download that ends: sends `size` bytes and closes its side at once.
 * Sends `{ type: 'ready', port }` over IPC once listening.
 */
import net from 'node:net';
import { randomFillSync } from 'node:crypto';

const chunk = randomFillSync(Buffer.alloc(1 << 20));

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  let head = Buffer.alloc(0);
  const onHead = (data: Buffer) => {
    head = Buffer.concat([head, data]);
    if (head.length < 9) return;
    socket.off('data', onHead);
    const op = String.fromCharCode(head[0]!);
    const size = head.readDoubleBE(1);
    const rest = head.subarray(9);
    if (op === 'U') swallow(socket, size, rest.length);
    else if (op === 'D' || op === 'E') void send(socket, size, op === 'E');
    else socket.destroy();
  };
  socket.on('data', onHead);
});

function swallow(socket: net.Socket, size: number, already: number): void {
  let got = already;
  const check = () => {
    if (got < size) return;
    socket.off('data', onData);
    socket.end(Buffer.from([1]));
  };
  const onData = (data: Buffer) => {
    got += data.length;
    check();
  };
  socket.on('data', onData);
  check();
}

async function send(socket: net.Socket, size: number, end: boolean): Promise<void> {
  let left = size;
  while (left > 0 && !socket.destroyed) {
    const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
    left -= piece.length;
    if (!socket.write(piece)) await drained(socket);
  }
  if (end) socket.end();
}

function drained(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done).off('close', done);
      resolve();
    };
    socket.on('drain', done).on('close', done);
  });
}

server.listen(Number(process.env.BENCH_ORIGIN_PORT ?? 0), '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (server.address() as net.AddressInfo).port });
});
process.on('disconnect', () => process.exit(0));
