/**
 * Like OpenSSH's PerSourcePenalties: what each way of never logging in costs a source,
 * and how long it is refused once the costs add up. Times in milliseconds.
 */
export interface PenaltyPolicy {
  /** The connection tried to log in and failed (wrong key, unknown device, password). */
  authfailMs: number;
  /** The connection closed without trying to log in (scanners, auditors, a device's network dropping). */
  noauthMs: number;
  /** The connection sent no version line in time, or did not log in within the login grace. */
  graceExceededMs: number;
  /** Penalties that add up to this refuse the source, for this long the first time, twice as long each time after. */
  minMs: number;
  /** The longest refusal; a source is also forgotten this long after its last offence. */
  maxMs: number;
  /** Sources remembered at most; past it the one that offended longest ago is forgotten. */
  maxSources: number;
}

export type Offence = 'authfail' | 'noauth' | 'grace-exceeded';

interface Record {
  /** Penalty earned since the last refusal began. */
  score: number;
  refusedUntil: number;
  /** Refusals so far: each one lasts twice as long as the one before. */
  refusals: number;
  forgetAt: number;
}

/**
 * Remembers sources whose connections never log in and refuses them for a growing
 * period: a scanner or a flood of idle connections loses its turn, a device that logs in
 * never pays anything. Memory is bounded by `maxSources`, and each call is O(1).
 * Devices behind one NAT address share a source with each other (and with whoever else
 * is there): the penalties are small enough that a few failures cost nobody anything.
 */
export class SourcePenalties {
  private readonly sources = new Map<string, Record>();

  constructor(
    readonly policy: PenaltyPolicy,
    private readonly now: () => number,
  ) {}

  penalise(source: string, offence: Offence): void {
    const now = this.now();
    let rec = this.current(source, now);
    // Offences of connections that were open when the refusal began do not lengthen it.
    if (rec && now < rec.refusedUntil) return;
    if (!rec) {
      if (this.sources.size >= this.policy.maxSources) this.sources.delete(this.sources.keys().next().value as string);
      rec = { score: 0, refusedUntil: 0, refusals: 0, forgetAt: 0 };
    }
    rec.score +=
      offence === 'authfail' ? this.policy.authfailMs : offence === 'noauth' ? this.policy.noauthMs : this.policy.graceExceededMs;
    if (rec.score >= this.policy.minMs) {
      rec.refusals++;
      rec.refusedUntil = now + Math.min(this.policy.minMs * 2 ** (rec.refusals - 1), this.policy.maxMs);
      rec.score = 0;
    }
    rec.forgetAt = Math.max(rec.refusedUntil, now) + this.policy.maxMs;
    // Re-inserted so the map stays in order of last offence, oldest first (the one to forget when full).
    this.sources.delete(source);
    this.sources.set(source, rec);
  }

  /** Whether new connections from `source` are refused now. */
  refuses(source: string): boolean {
    const now = this.now();
    const rec = this.current(source, now);
    return rec !== undefined && now < rec.refusedUntil;
  }

  /** Sources remembered now. */
  get size(): number {
    return this.sources.size;
  }

  private current(source: string, now: number): Record | undefined {
    const rec = this.sources.get(source);
    if (rec && now >= rec.forgetAt) {
      this.sources.delete(source);
      return undefined;
    }
    return rec;
  }
}
