/**
 * Caps the device connections that have not logged in yet, like sshd's MaxStartups.
 * After a server restart every device dials at once, and each handshake costs a key
 * exchange, a host-key signature and a policy lookup; past the cap a connection is
 * refused before ssh2 spends anything on it, and the device comes back after its
 * jittered backoff. Connections that are logged in do not count: an idle tunnel costs
 * no handshake work.
 */
export class HandshakeThrottle {
  private pending = 0;
  private refusedCount = 0;

  constructor(readonly maxPending: number) {
    if (!Number.isInteger(maxPending) || maxPending < 1) throw new RangeError(`maxPending must be a positive integer, not ${maxPending}`);
  }

  /** A slot for one handshake, or null when `maxPending` are already under way. The release is idempotent. */
  tryAcquire(): (() => void) | null {
    if (this.pending >= this.maxPending) {
      this.refusedCount++;
      return null;
    }
    this.pending++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.pending--;
    };
  }

  /** Handshakes under way now. */
  get inFlight(): number {
    return this.pending;
  }

  /** Connections refused so far because the cap was reached. */
  get refused(): number {
    return this.refusedCount;
  }
}
