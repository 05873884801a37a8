import type { DeviceBackup } from '@p2pvps/protocol/federation-backup-schemas';

/** Where the tunnel goes while the home server is away: a backup's gateway, its host key, and the port it gave this device. */
export interface BackupTarget {
  server: string;
  host: string;
  port: number;
  hostKey: string;
  sshPort: number;
}

export type FailoverDecision = { go: 'away'; backup: DeviceBackup } | { go: 'home' } | null;

/**
 * The failover rule, without timers or I/O (the caller passes the time): the home server
 * counts as unreachable while the tunnel to it is down and it does not answer; past
 * `unreachableMs` of that the device goes to the first backup whose agreement holds. Once
 * there, it goes home when the home has answered for `returnAfterMs` without a miss (or
 * the backup's agreement ran out). No decision ever touches the rental: no wipe.
 */
export class FailoverRule {
  private away: DeviceBackup | null = null;
  private unreachableSince: number | null = null;
  private reachableSince: number | null = null;

  constructor(private readonly o: { unreachableMs: number; returnAfterMs: number }) {}

  get backup(): DeviceBackup | null {
    return this.away;
  }

  /** When the next decision falls due if nothing changes (the threshold or the wait to return), or null. */
  get dueAt(): number | null {
    if (this.away === null) return this.unreachableSince === null ? null : this.unreachableSince + this.o.unreachableMs;
    return this.reachableSince === null ? null : this.reachableSince + this.o.returnAfterMs;
  }

  /**
   * What was seen at `now`: whether the tunnel to the home is up (false while away: the
   * tunnel is at the backup), and whether the home answered a probe (null: not asked).
   */
  observe(now: number, seen: { homeTunnelUp: boolean; homeAnswers: boolean | null }, backups: readonly DeviceBackup[]): FailoverDecision {
    if (this.away === null) {
      if (seen.homeTunnelUp || seen.homeAnswers === true) {
        this.unreachableSince = null;
        return null;
      }
      this.unreachableSince ??= now;
      if (now - this.unreachableSince < this.o.unreachableMs) return null;
      const backup = backups.find((b) => Date.parse(b.validUntil) > now);
      if (!backup) return null;
      this.away = backup;
      this.reachableSince = null;
      return { go: 'away', backup };
    }
    const expired = Date.parse(this.away.validUntil) <= now;
    if (seen.homeAnswers === true) this.reachableSince ??= now;
    else this.reachableSince = null;
    if (!expired && (this.reachableSince === null || now - this.reachableSince < this.o.returnAfterMs)) return null;
    this.away = null;
    this.unreachableSince = null;
    this.reachableSince = null;
    return { go: 'home' };
  }
}

export interface HomeFailoverOptions {
  unreachableMs: number;
  returnAfterMs: number;
  now: () => number;
  /** Whether the home server's API answers now (its public server document, unsigned). */
  probeHome: () => Promise<boolean>;
  /** The tunnel is up (to wherever it goes now). */
  tunnelUp: () => boolean;
  /** The backups the home server last named (kept in the state file). */
  backups: () => readonly DeviceBackup[];
  /** The tunnel must go elsewhere now: to `target`, or home (null). */
  switchTo: (target: BackupTarget | null) => void;
  log: (level: 'info' | 'warn', msg: string) => void;
}

/**
 * Watches the home server and moves the tunnel to a backup peer's gateway while it is
 * unreachable, and back when it has been reachable for a while (FailoverRule). The probes
 * are a plain GET of the home's server document, cheap for the server and free of the
 * device's signature, every quarter of the threshold (at most every 2 s: a device fails
 * over at most 2 s past the threshold); at home only while the tunnel is down.
 */
export class HomeFailover {
  private readonly rule: FailoverRule;
  private timer: NodeJS.Timeout | undefined;
  /** A tick at the moment a decision falls due, between the regular ones. */
  private dueTimer: NodeJS.Timeout | undefined;
  private ticking = false;
  private closed = false;

  constructor(private readonly o: HomeFailoverOptions) {
    this.rule = new FailoverRule({ unreachableMs: o.unreachableMs, returnAfterMs: o.returnAfterMs });
  }

  get everyMs(): number {
    return Math.max(100, Math.min(2_000, Math.floor(this.o.unreachableMs / 4)));
  }

  /** Where the tunnel goes now: a backup, or null for the home server's own gateway. */
  target(): BackupTarget | null {
    const b = this.rule.backup;
    return b ? { server: b.server, host: b.gateway.host, port: b.gateway.port, hostKey: b.gateway.hostKey, sshPort: b.sshPort } : null;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.everyMs);
    this.timer.unref();
  }

  async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      const atHome = this.rule.backup === null;
      const homeTunnelUp = atHome && this.o.tunnelUp();
      // A tunnel up at home needs no probe; away, the probe is the only news of home.
      const homeAnswers = homeTunnelUp ? null : await this.o.probeHome().catch(() => false);
      if (this.closed) return;
      const decision = this.rule.observe(this.o.now(), { homeTunnelUp, homeAnswers }, this.o.backups());
      this.tickWhenDue();
      if (decision?.go === 'away') {
        this.o.log(
          'warn',
          `the home server has been unreachable for ${this.o.unreachableMs / 1000} s; serving through the backup ${decision.backup.server} (the rental keeps running)`,
        );
        this.o.switchTo(this.target());
      } else if (decision?.go === 'home') {
        this.o.log('info', 'the home server answers again; going back to it');
        this.o.switchTo(null);
      }
    } finally {
      this.ticking = false;
    }
  }

  /** Decides on time rather than at the next regular tick: a device fails over at the threshold, not up to a tick later. */
  private tickWhenDue(): void {
    clearTimeout(this.dueTimer);
    const due = this.rule.dueAt;
    if (due === null) return;
    const wait = due - this.o.now();
    if (wait >= this.everyMs) return;
    this.dueTimer = setTimeout(() => void this.tick(), Math.max(0, wait));
    this.dueTimer.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.dueTimer);
  }
}

/** Whether the server's API answers: its public server document, unsigned, within a few seconds. */
export async function probeServer(apiUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${apiUrl.replace(/\/+$/, '')}/.well-known/p2pvps-server`, { signal: AbortSignal.timeout(3_000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}
