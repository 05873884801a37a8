import { Transform, type TransformCallback } from 'node:stream';

/** SSH_MSG_NEWKEYS (RFC 4253 §7.3): the client's last packet before everything is encrypted. */
const newKeys = 21;
/** RFC 4253 §6.1 asks implementations to take packets of 35,000 bytes; a longer "length" is not SSH. */
const maxPacket = 35_000;
/** The identification line is at most 255 bytes (RFC 4253 §4.2). */
const maxBanner = 255;

/**
 * The client's side of a renter's SSH connection, let through up to and including its
 * NEWKEYS and held there until `open()`: the key exchange with the container's sshd runs
 * while the container is still being handed over, and authentication (the first encrypted
 * packet) reaches sshd only once the renter's account is in it.
 *
 * Before NEWKEYS everything the client sends is plain (RFC 4253 §6: no cipher, no MAC
 * until the first key exchange), so the packet boundaries can be read: the identification
 * line, then `uint32 packet_length` and that many bytes, the message number first. Anything
 * that does not read as SSH holds from there on: the gate errs on the side of holding.
 */
export class SshKexGate extends Transform {
  private held = false;
  private opened = false;
  /** Bytes read but not yet passed on: part of a packet, or the line before its newline. */
  private pending = Buffer.alloc(0);
  private bannerDone = false;
  /** The data and callback waiting for open(). */
  private waiting: { data: Buffer; callback: TransformCallback } | undefined;

  /** True once the client's NEWKEYS went through and the rest waits. */
  get holding(): boolean {
    return this.held && !this.opened;
  }

  /** Lets everything through from now on. */
  open(): void {
    if (this.opened) return;
    this.opened = true;
    const rest = Buffer.concat([this.pending, this.waiting?.data ?? Buffer.alloc(0)]);
    this.pending = Buffer.alloc(0);
    const callback = this.waiting?.callback;
    this.waiting = undefined;
    if (rest.length) this.push(rest);
    callback?.();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.opened) return callback(null, chunk);
    if (this.held) {
      // Backpressure: nothing more is read from the client until the gate opens.
      this.waiting = { data: chunk, callback };
      return;
    }
    const data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const through = this.passable(data);
    if (through > 0) this.push(data.subarray(0, through));
    if (this.held) {
      this.pending = Buffer.alloc(0);
      this.waiting = { data: data.subarray(through), callback };
      return;
    }
    this.pending = Buffer.from(data.subarray(through));
    callback();
  }

  /**
   * How many bytes of `data` (which starts where the last pass ended) may go through now;
   * sets `held` when it reached the client's NEWKEYS, or something that is not SSH.
   */
  private passable(data: Buffer): number {
    let at = 0;
    if (!this.bannerDone) {
      const eol = data.indexOf(0x0a);
      if (eol === -1) {
        if (data.length > maxBanner) this.held = true;
        return 0;
      }
      if (eol > maxBanner) {
        this.held = true;
        return 0;
      }
      this.bannerDone = true;
      at = eol + 1;
    }
    while (data.length - at >= 5) {
      const length = data.readUInt32BE(at);
      if (length > maxPacket || length < 5) {
        this.held = true;
        return at;
      }
      if (data.length - at < 4 + length) break;
      const messageNumber = data[at + 5];
      at += 4 + length;
      if (messageNumber === newKeys) {
        this.held = true;
        return at;
      }
    }
    return at;
  }

  override _flush(callback: TransformCallback): void {
    // An end before NEWKEYS passes on what was read. While held, the stream does not get
    // here: the held chunk's callback waits for open(), and the end waits behind it.
    if (this.pending.length) this.push(this.pending);
    callback();
  }
}
