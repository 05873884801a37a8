/**
 * What one tick of the reliability worker counts. The first tick after a start only starts
 * the count (devices are still reconnecting), and a late tick counts at most two
 * intervals: time the server itself was away is counted neither for nor against a device.
 * Scores move slowly (a 30-day window) and refreshing all of them reads every device's
 * window, so they are refreshed at the first tick and then every `scoreRefreshMs`.
 */
export class ReliabilityTicks {
  private lastTick: number | undefined;
  private lastRefresh: number | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly scoreRefreshMs = 15 * 60_000,
  ) {}

  next(now: Date): { elapsedMs: number; refreshScores: boolean } {
    const at = now.getTime();
    const elapsedMs = this.lastTick === undefined ? 0 : Math.max(0, Math.min(at - this.lastTick, 2 * this.intervalMs));
    this.lastTick = at;
    const refreshScores = this.lastRefresh === undefined || at - this.lastRefresh >= this.scoreRefreshMs;
    if (refreshScores) this.lastRefresh = at;
    return { elapsedMs, refreshScores };
  }
}
