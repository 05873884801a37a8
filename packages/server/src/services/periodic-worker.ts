import type { DomainContext } from '../domain/context.ts';
import { endExpiredRentals } from '../domain/rentals/rentals.ts';

/** Ends rentals whose term has run out, on a fixed period. `close()` is idempotent. */
export class ExpiryWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ctx: DomainContext,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => {
      this.running = this.tick().catch(this.onError);
    }, this.intervalMs);
  }

  tick(): Promise<number> {
    return endExpiredRentals(this.ctx);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
