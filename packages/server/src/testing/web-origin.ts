import net from 'node:net';

/** A request as the origin read it: what a renter's app would see. */
export interface SeenRequest {
  line: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * A lenient HTTP/1.1 origin, like the web servers renters run (Python's http.server
 * among them): it splits requests on blank lines, reads Content-Length bodies, answers
 * each request with 200 and what it saw, and ignores Upgrade, except `Upgrade: echo`,
 * which it accepts with a 101 and then echoes every byte. It records every request, so a
 * test can tell what reached the origin and how.
 */
export class WebOrigin {
  readonly seen: SeenRequest[] = [];
  private readonly server = net.createServer((socket) => this.serve(socket));
  private readonly sockets = new Set<net.Socket>();

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffer = Buffer.alloc(0);
    let echo = false;
    socket.on('data', (chunk: Buffer) => {
      if (echo) return void socket.write(chunk);
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const [line = '', ...rest] = buffer.subarray(0, end).toString('latin1').split(/\r?\n/);
        const headers: Record<string, string> = {};
        for (const h of rest) {
          const colon = h.indexOf(':');
          headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
        }
        const length = Number(headers['content-length'] ?? 0);
        if (buffer.length < end + 4 + length) return;
        const body = buffer.subarray(end + 4, end + 4 + length).toString('latin1');
        buffer = buffer.subarray(end + 4 + length);
        this.seen.push({ line, headers, body });
        if (headers.upgrade === 'echo') {
          socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
          echo = true;
          if (buffer.length > 0) socket.write(buffer);
          return;
        }
        const text = `saw ${line}`;
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
      }
    });
  }
}
