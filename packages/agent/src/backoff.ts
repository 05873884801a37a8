import { timing } from '@p2pvps/protocol/timing';

/**
 * Bounded exponential backoff with full jitter, so a thousand devices that lost the
 * same server do not all come back in the same millisecond.
 */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly initialMs: number = timing.reconnectInitialMs,
    private readonly maxMs: number = timing.reconnectMaxMs,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }
}
