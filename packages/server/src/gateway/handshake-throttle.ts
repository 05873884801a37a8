/** sshd's MaxStartups `start:rate:full`: past `start` handshakes, refuse `rate`% of new ones, rising linearly to all at `full`. */
export interface MaxStartups {
  start: number;
  rate: number;
  full: number;
}

export interface HandshakeThrottleOptions {
  maxStartups: MaxStartups;
  /** Handshakes one source may have under way at once (see sourceOf). */
  perSource: number;
  /** Uniform in [0, 1); injected so tests can decide the early drops. */
  random?: () => number;
}

export type Refusal = 'full' | 'early-drop' | 'per-source';

/**
 * Caps the device connections that have not logged in yet, like sshd's MaxStartups and
 * PerSourceMaxStartups. After a server restart every device dials at once, and each
 * handshake costs a key exchange, a host-key signature and a policy lookup; past the cap
 * a connection is refused before ssh2 spends anything on it, and the device comes back
 * after its jittered backoff. The random early drop makes a flood lose most of its
 * attempts well before the last slot is taken, and the per-source cap keeps one host from
 * taking more than a few slots at all, so devices elsewhere still get in. Connections
 * that are logged in do not count: an idle tunnel costs no handshake work.
 */
export class HandshakeThrottle {
  private pending = 0;
  private readonly bySource = new Map<string, number>();
  private readonly refusals: Record<Refusal, number> = { full: 0, 'early-drop': 0, 'per-source': 0 };
  private readonly random: () => number;

  constructor(readonly options: HandshakeThrottleOptions) {
    const { start, rate, full } = options.maxStartups;
    if (!Number.isInteger(full) || full < 1) throw new RangeError(`full must be a positive integer, not ${full}`);
    if (!Number.isInteger(start) || start < 1 || start > full) throw new RangeError(`start must be from 1 to full (${full}), not ${start}`);
    if (!Number.isInteger(rate) || rate < 0 || rate > 100) throw new RangeError(`rate must be a percentage, not ${rate}`);
    if (!Number.isInteger(options.perSource) || options.perSource < 1) {
      throw new RangeError(`perSource must be a positive integer, not ${options.perSource}`);
    }
    this.random = options.random ?? Math.random;
  }

  /** A slot for one handshake from `source`, or why there is none. The release is idempotent. */
  tryAcquire(source: string): (() => void) | Refusal {
    const refusal = this.refusal(source);
    if (refusal) {
      this.refusals[refusal]++;
      return refusal;
    }
    this.pending++;
    this.bySource.set(source, (this.bySource.get(source) ?? 0) + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.pending--;
      const left = (this.bySource.get(source) ?? 1) - 1;
      if (left > 0) this.bySource.set(source, left);
      else this.bySource.delete(source);
    };
  }

  private refusal(source: string): Refusal | null {
    const { start, rate, full } = this.options.maxStartups;
    if (this.pending >= full) return 'full';
    if ((this.bySource.get(source) ?? 0) >= this.options.perSource) return 'per-source';
    if (this.pending >= start) {
      // sshd's formula: `rate`% at `start`, rising linearly to 100% at `full`.
      const percent = rate + ((100 - rate) * (this.pending - start)) / Math.max(1, full - start);
      if (this.random() * 100 < percent) return 'early-drop';
    }
    return null;
  }

  /** Handshakes under way now. */
  get inFlight(): number {
    return this.pending;
  }

  /** Sources with a handshake under way now (bounded by `full`). */
  get sources(): number {
    return this.bySource.size;
  }

  /** Connections refused so far, in total or for one reason. */
  refused(reason?: Refusal): number {
    return reason ? this.refusals[reason] : this.refusals.full + this.refusals['early-drop'] + this.refusals['per-source'];
  }
}
