/**
 * Bounds the calls to PayPal that anyone on the internet can cause: the return page and the
 * webhook need no login, and each request to them costs at least one call to PayPal, which
 * rate-limits the merchant as a whole. Three limits, each cheap and in memory:
 *
 * - per source (the client's IP): at most `perSourcePerMinute` admitted requests a minute;
 * - at once: at most `maxConcurrent` admitted requests talking to PayPal; more are refused,
 *   not queued, so a flood cannot build a backlog that real top-ups wait behind;
 * - answers: an order or capture PayPal said is unknown or not one of ours is remembered for
 *   `forgetAfterMs`, and asking again costs no call.
 *
 * A refusal is temporary by design: PayPal redelivers a webhook it could not deliver, and a
 * renter's browser can reload the return page.
 */
export interface OutboundGuardOptions {
  perSourcePerMinute: number;
  maxConcurrent: number;
  /** How long a "not ours" answer is remembered; default 10 min. */
  forgetAfterMs?: number;
  /** Sources and answers remembered at most (oldest dropped first); default 10,000 each. */
  maxEntries?: number;
  now: () => number;
}

export type Admission = { admitted: true; release: () => void } | { admitted: false; reason: 'source' | 'busy' };

const minuteMs = 60_000;

export class OutboundGuard {
  private readonly sources = new Map<string, { windowStart: number; count: number }>();
  private readonly notOurs = new Map<string, number>();
  private inFlight = 0;
  private readonly forgetAfterMs: number;
  private readonly maxEntries: number;

  constructor(private readonly options: OutboundGuardOptions) {
    this.forgetAfterMs = options.forgetAfterMs ?? 10 * minuteMs;
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  /** Admits one request from `source` that may call PayPal; call `release()` when it is done. */
  admit(source: string): Admission {
    const now = this.options.now();
    let window = this.sources.get(source);
    if (!window || now - window.windowStart >= minuteMs) {
      this.sources.delete(source);
      window = { windowStart: now, count: 0 };
      this.remember(this.sources, source, window);
    }
    if (window.count >= this.options.perSourcePerMinute) return { admitted: false, reason: 'source' };
    if (this.inFlight >= this.options.maxConcurrent) return { admitted: false, reason: 'busy' };
    window.count++;
    this.inFlight++;
    let released = false;
    return {
      admitted: true,
      release: () => {
        if (released) return;
        released = true;
        this.inFlight--;
      },
    };
  }

  /** Whether PayPal recently said `key` (an order or capture) is unknown or not one of ours. */
  knownNotOurs(key: string): boolean {
    const at = this.notOurs.get(key);
    if (at === undefined) return false;
    if (this.options.now() - at < this.forgetAfterMs) return true;
    this.notOurs.delete(key);
    return false;
  }

  markNotOurs(key: string): void {
    this.notOurs.delete(key);
    this.remember(this.notOurs, key, this.options.now());
  }

  private remember<V>(map: Map<string, V>, key: string, value: V): void {
    // Maps iterate in insertion order: the first key is the oldest.
    while (map.size >= this.maxEntries) map.delete(map.keys().next().value!);
    map.set(key, value);
  }
}
