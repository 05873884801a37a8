import type { MaxStartups } from './handshake-throttle.ts';
import type { PenaltyPolicy } from './source-penalties.ts';

// The gateway's defaults for what a connection may do before and after it logs in; the
// server's option table (config.ts) sets the same values.

/**
 * Up to 256 handshakes keep both cores busy with key exchanges, few enough that 10,000
 * devices dialling at once cannot pile up; past 64, new ones are dropped at random, more
 * the fuller it gets, so a flood loses most of its attempts before the last slot goes.
 */
export const defaultMaxStartups: MaxStartups = { start: 64, rate: 30, full: 256 };
/** One source may hold a few slots (devices behind one NAT reconnecting together), never all of them. */
export const defaultMaxStartupsPerSource = 8;
/** Every SSH client sends its version line at once; only a slow-loris waits. */
export const defaultVersionTimeoutMs = 5_000;
/** OpenSSH's PerSourcePenalties defaults (authfail:5s noauth:1s grace-exceeded:10s min:15s max:600s). */
export const defaultPenaltyPolicy: PenaltyPolicy = {
  authfailMs: 5_000,
  noauthMs: 1_000,
  graceExceededMs: 10_000,
  minMs: 15_000,
  maxMs: 600_000,
  maxSources: 65_536,
};
/** An agent holds one connection; a few more cover NAT rebinding, before keepalives find the old one dead. */
export const defaultMaxConnectionsPerKey = 4;
/**
 * Global requests a connection may send in a burst, and one more per second after: an
 * agent sends three forwards when it connects; each request costs a policy lookup.
 */
const requestBudget = { burst: 16, refillMs: 1_000 };

/**
 * Keeps a device key to `max` logged-in connections. Past the cap the newest login is kept and the oldest are ended, the one serving the tunnel last: a stale connection
 * goes first, and holding connections with a stolen key never locks the real agent out.
 */
export class DeviceKeyCap<C extends { ending: boolean }> {
  private readonly byDevice = new Map<string, Set<C>>();

  constructor(readonly max: number) {}

  /** Counts `conn` for `deviceId`; returns the connections to end, oldest first, `keep` (the tunnel's) only if it must. */
  admit(deviceId: string, conn: C, keep: C | undefined): C[] {
    let mine = this.byDevice.get(deviceId);
    if (!mine) this.byDevice.set(deviceId, (mine = new Set()));
    // A Set keeps insertion order: oldest first. Connections already being ended no longer count.
    const live = [...mine].filter((c) => !c.ending);
    mine.add(conn);
    if (live.length < this.max) return [];
    const byAge = [...live.filter((c) => c !== keep), ...live.filter((c) => c === keep)];
    return byAge.slice(0, live.length - this.max + 1);
  }

  forget(deviceId: string, conn: C): void {
    const mine = this.byDevice.get(deviceId);
    mine?.delete(conn);
    if (mine?.size === 0) this.byDevice.delete(deviceId);
  }
}

/** A token bucket for one connection's global requests: `burst` at once, then one per `refillMs`. */
export class RequestBudget {
  private tokens = requestBudget.burst;

  constructor(private checkedAt: number) {}

  spend(now: number): boolean {
    const earned = Math.floor((now - this.checkedAt) / requestBudget.refillMs);
    if (earned > 0) {
      this.tokens = Math.min(requestBudget.burst, this.tokens + earned);
      this.checkedAt += earned * requestBudget.refillMs;
    }
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}
