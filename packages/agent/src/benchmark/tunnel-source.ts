import type { Duplex } from 'node:stream';

/**
 * The device's side of the server's tunnel measurement: while a challenge is outstanding,
 * a benchmark channel that starts with its nonce gets bytes for as long as the server
 * keeps it open (at most `maxMs`). Any other benchmark channel, or one when none is
 * armed, is closed at once: nobody else can make the device send.
 */
export class TunnelBenchmarkSource {
  private nonce: string | null = null;
  private readonly chunk = Buffer.alloc(64 * 1024);

  constructor(private readonly maxMs = 15_000) {}

  arm(nonce: string): void {
    this.nonce = nonce;
  }

  disarm(): void {
    this.nonce = null;
  }

  serve(channel: Duplex): void {
    let head = '';
    const timer = setTimeout(() => channel.destroy(), this.maxMs);
    channel.on('close', () => clearTimeout(timer));
    channel.on('error', () => channel.destroy());
    const onData = (data: Buffer) => {
      head += data.toString('latin1');
      const eol = head.indexOf('\n');
      if (eol < 0) {
        if (head.length > 200) channel.destroy();
        return;
      }
      channel.off('data', onData);
      if (this.nonce === null || head.slice(0, eol) !== this.nonce) return void channel.destroy();
      const pump = () => {
        while (!channel.destroyed && channel.write(this.chunk));
        if (!channel.destroyed) channel.once('drain', pump);
      };
      pump();
    };
    channel.on('data', onData);
  }
}
