import { timing } from '@p2pvps/protocol/timing';
import type { RenterIsolation } from './isolation.ts';

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface IsolationWatchOptions {
  isolation: Pick<RenterIsolation, 'verify' | 'apply'>;
  /** Stops the renter's container, when the rules cannot be restored. */
  stopRenter: () => Promise<unknown>;
  /** Told once the rules hold again after stopRenter, so the agent can start the container again. */
  restored?: () => void;
  /** Whether there is anything to watch over (a rental on the device); checks are skipped otherwise. */
  active?: () => boolean;
  log: (level: 'error' | 'warn' | 'info' | 'debug', msg: string) => void;
  /** timing.isolationCheckIntervalMs unless a test says otherwise. */
  intervalMs?: number;
  timers?: Timers;
}

/** What one check found: the rules in place, put back in place, or beyond repair (the renter stopped). */
export type WatchResult = 'held' | 'restored' | 'breached' | 'idle';

/**
 * Keeps the renter isolation (isolation.ts) in place while a rental runs. Other tools
 * rewrite the firewall: `iptables -F`, a firewalld or ufw reload, netfilter-persistent,
 * Docker's own restarts; and the device's networks change (a DHCP lease, a new interface,
 * a VPN coming up). Every few seconds the watch asks `verify()`, re-applies when anything
 * drifted, and when the rules cannot be put back it stops the renter's container: a
 * stopped rental is better than one open to the owner's home network.
 */
export class IsolationWatch {
  private readonly timers: Timers;
  private readonly intervalMs: number;
  private timer: unknown;
  private running: Promise<WatchResult> | undefined;
  private closed = false;
  /** The renter's container was stopped because the rules could not be restored. */
  private renterStopped = false;

  constructor(private readonly o: IsolationWatchOptions) {
    this.timers = o.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
    this.intervalMs = o.intervalMs ?? timing.isolationCheckIntervalMs;
  }

  start(): void {
    if (this.closed || this.timer !== undefined) return;
    this.timer = this.timers.setTimeout(() => {
      void this.check().finally(() => {
        this.timer = undefined;
        this.start();
      });
    }, this.intervalMs);
  }

  /** Checks once now (or joins the check in progress). */
  check(): Promise<WatchResult> {
    return (this.running ??= this.checkOnce().finally(() => (this.running = undefined)));
  }

  private async checkOnce(): Promise<WatchResult> {
    if (this.o.active && !this.o.active()) return 'idle';
    const problems = await this.o.isolation.verify().catch((err: Error) => [`the firewall could not be read: ${err.message}`]);
    if (problems.length === 0) {
      this.wasRestored();
      return 'held';
    }
    // Once the renter is stopped, a repair that keeps failing is retried every check quietly.
    this.o.log(this.renterStopped ? 'debug' : 'warn', `renter isolation drifted (${problems.join('; ')}); restoring it`);
    try {
      await this.o.isolation.apply();
      const left = await this.o.isolation.verify();
      if (left.length) throw new Error(`still: ${left.join('; ')}`);
    } catch (err) {
      const stopped = this.renterStopped;
      this.renterStopped = true;
      this.o.log(
        stopped ? 'debug' : 'error',
        `renter isolation could not be restored (${(err as Error).message}); stopping the renter's container so it cannot reach the home network`,
      );
      await this.o.stopRenter().catch((e: Error) => this.o.log('error', `stopping the renter's container failed: ${e.message}`));
      return 'breached';
    }
    this.o.log('info', 'renter isolation restored');
    this.wasRestored();
    return 'restored';
  }

  private wasRestored(): void {
    if (!this.renterStopped) return;
    this.renterStopped = false;
    this.o.log('info', "renter isolation holds again; the renter's container may start again");
    this.o.restored?.();
  }

  /** Stops checking; waits for a check in progress. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }
}
