/**
 * Runs a job on a fixed period (rental expiry, metering), one run at a time: a run that
 * takes longer than the period delays the next instead of overlapping it. `close()` waits
 * for the run in progress and is idempotent.
 */
export class PeriodicWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly intervalMs: number,
    private readonly job: () => Promise<unknown>,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => {
      this.running ??= this.job()
        .catch(this.onError)
        .finally(() => (this.running = null));
    }, this.intervalMs);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
