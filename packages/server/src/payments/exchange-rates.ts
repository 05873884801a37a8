import { parseRate, type ExactRate } from './ethereum/amount.ts';

/**
 * The chain rails' exchange rates are not constants: the operator feeds them (`p2pvps admin rate
 * set BTC 65000`, from a cron job or by hand; the rate options seed them at start), each with the
 * time it was set. A rate is only good for `maxAgeMs`, and a new rate further than `bandBps`
 * from the one it replaced is held until the operator sets it again: a stale or fat-fingered
 * rate would let depositors buy credit below the market and withdraw it as owner earnings. A
 * rail whose rate is not good neither quotes nor credits, and says why; deposits wait, nothing
 * is lost.
 */
export interface RatePolicy {
  maxAgeMs: number;
  /** The largest move from the previous rate accepted without confirming, in basis points. */
  bandBps: number;
}

export interface StoredRate {
  coin: string;
  rate: string;
  setAt: string;
  previousRate: string | null;
}

export type RateCheck = { usable: true; rate: string; setAt: string } | { usable: false; rate: string | undefined; reason: string };

/** Thrown by a rail asked to quote or credit without a good rate; the message says why. */
export class RateUnavailable extends Error {
  override readonly name = 'RateUnavailable';
}

/** Whether `stored` may be used `now`, and if not, a sentence saying why and what the operator does. */
export function checkRate(coin: string, stored: StoredRate | undefined, policy: RatePolicy, now: Date): RateCheck {
  const feed = `the operator sets it with p2pvps admin rate set ${coin} RATE`;
  if (!stored) return { usable: false, rate: undefined, reason: `There is no ${coin} rate yet; ${feed}.` };
  const ageMs = now.getTime() - Date.parse(stored.setAt);
  if (!(ageMs <= policy.maxAgeMs)) {
    const minutes = Math.round(ageMs / 60_000);
    return {
      usable: false,
      rate: stored.rate,
      reason: `The ${coin} rate (${stored.rate}) was set ${minutes} min ago, longer than the ${Math.round(policy.maxAgeMs / 60_000)} min it is good for; ${feed}.`,
    };
  }
  if (stored.previousRate !== null && !withinBand(stored.previousRate, stored.rate, policy.bandBps)) {
    return {
      usable: false,
      rate: stored.rate,
      reason: `The ${coin} rate moved from ${stored.previousRate} to ${stored.rate}, more than ${policy.bandBps / 100}% at once; the operator confirms it by setting it again.`,
    };
  }
  return { usable: true, rate: stored.rate, setAt: stored.setAt };
}

/** |next − previous| ≤ previous × bandBps / 10,000, exactly. */
export function withinBand(previous: string, next: string, bandBps: number): boolean {
  const [a, b] = common(parseRate(previous), parseRate(next));
  const diff = a > b ? a - b : b - a;
  return diff * 10_000n <= a * BigInt(bandBps);
}

/** Both rates at the same scale. */
function common(a: ExactRate, b: ExactRate): [bigint, bigint] {
  const scale = Math.max(a.scale, b.scale);
  return [a.scaled * 10n ** BigInt(scale - a.scale), b.scaled * 10n ** BigInt(scale - b.scale)];
}
