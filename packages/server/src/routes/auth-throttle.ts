import { sourceOf } from '../client-source.ts';
import type { Clock } from '../domain/clock.ts';
import { RetryLaterError } from '../domain/errors.ts';

/**
 * Token buckets by key: each holds up to `perWindow` tokens and refills at `perWindow`
 * per `windowMs`, so a key gets a burst of `perWindow` and then a steady trickle. Only
 * buckets that are not full are kept (a full one is the same as none), and at most
 * `maxKeys` of them: past that the oldest is dropped, which only ever forgives.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly perWindow: number,
    private readonly windowMs: number,
    private readonly maxKeys = 100_000,
  ) {}

  private level(key: string, now: number): number {
    const b = this.buckets.get(key);
    if (!b) return this.perWindow;
    return Math.min(this.perWindow, b.tokens + ((now - b.at) * this.perWindow) / this.windowMs);
  }

  /** Seconds until `key` has a token again; 0 when it has one now. */
  waitSeconds(key: string): number {
    const now = this.clock.now().getTime();
    const level = this.level(key, now);
    return level >= 1 ? 0 : ((1 - level) * this.windowMs) / this.perWindow / 1000;
  }

  /** Takes a token from `key`'s bucket (it may go below one: the caller checked `waitSeconds` first). */
  take(key: string): void {
    const now = this.clock.now().getTime();
    const tokens = this.level(key, now) - 1;
    this.buckets.delete(key);
    this.buckets.set(key, { tokens, at: now });
    if (this.buckets.size > this.maxKeys) this.sweep(now);
  }

  private sweep(now: number): void {
    for (const [key] of this.buckets) if (this.level(key, now) >= this.perWindow) this.buckets.delete(key);
    for (const [key] of this.buckets) {
      if (this.buckets.size <= this.maxKeys) break;
      this.buckets.delete(key);
    }
  }

  get size(): number {
    return this.buckets.size;
  }
}

export interface AuthLimits {
  /** Logins (API or browser) one address may try per minute. */
  loginsPerAddressPerMinute: number;
  /** Failed logins one account may have per hour, from anywhere. */
  loginFailuresPerAccountPerHour: number;
  /** Accounts one address may create per hour. */
  signupsPerAddressPerHour: number;
}

/**
 * Password guessing and signup spam, throttled before any password is hashed: per peer
 * address (the real socket peer: the front door hands the API its sockets, and nothing
 * trusts forwarded headers) and, for logins, per account, counting only failures so the
 * account's owner is not locked out by their own logins. Over a limit: 429 rate_limited
 * with Retry-After.
 */
export class AuthThrottle {
  private readonly logins: TokenBuckets;
  private readonly failures: TokenBuckets;
  private readonly signups: TokenBuckets;

  constructor(clock: Clock, limits: AuthLimits) {
    this.logins = new TokenBuckets(clock, limits.loginsPerAddressPerMinute, 60_000);
    this.failures = new TokenBuckets(clock, limits.loginFailuresPerAccountPerHour, 3_600_000);
    this.signups = new TokenBuckets(clock, limits.signupsPerAddressPerHour, 3_600_000);
  }

  private static check(wait: number, what: string): void {
    if (wait > 0) throw new RetryLaterError('rate_limited', wait, `Too many ${what}; try again in ${Math.ceil(wait)} s.`);
  }

  /** Runs a login attempt for `email` from `ip`, if the limits allow it now. */
  async login<T>(ip: string, email: string, attempt: () => Promise<T>): Promise<T> {
    const address = sourceOf(ip);
    AuthThrottle.check(this.logins.waitSeconds(address), 'logins from your address');
    AuthThrottle.check(this.failures.waitSeconds(email), 'failed logins for this account');
    this.logins.take(address);
    try {
      return await attempt();
    } catch (err) {
      if ((err as { code?: string }).code === 'invalid_credentials') this.failures.take(email);
      throw err;
    }
  }

  /** Runs a signup from `ip`, if the limit allows it now. */
  async signup<T>(ip: string, attempt: () => Promise<T>): Promise<T> {
    const address = sourceOf(ip);
    AuthThrottle.check(this.signups.waitSeconds(address), 'new accounts from your address');
    this.signups.take(address);
    return attempt();
  }
}
