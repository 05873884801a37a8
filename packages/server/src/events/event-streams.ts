import { DomainError } from '../domain/errors.ts';

/** Whose stream it is: a user, through one of their tokens, or a device. */
export type StreamOwner = { kind: 'user'; userId: string; tokenId: string } | { kind: 'device'; deviceId: string };

export interface EventStreamOptions {
  /** Streams open at once, in total, per user and per device. */
  limits: { total: number; perUser: number; perDevice: number };
  /** Of these API token or session IDs, the ones that still authenticate (not revoked, not expired). */
  liveTokenIds(ids: string[]): Promise<Set<string>>;
  /** Of these device IDs, the ones still enrolled. */
  liveDeviceIds(ids: string[]): Promise<Set<string>>;
  /** How often every open stream's credentials are checked again. */
  recheckEveryMs: number;
  onError(err: unknown): void;
}

interface Stream {
  owner: StreamOwner;
  end(): void;
}

/**
 * The server-sent event streams open on the API (dashboards' live updates, agents'
 * nudges). Each holds a socket and a listener for as long as the client likes, so they
 * are capped in total, per user and per device. A user over the cap is refused; a
 * device's newest stream replaces its oldest instead, since only the device can open
 * one and a new one means the old one's network path is gone.
 *
 * A stream was authenticated once, when it opened; every `recheckEveryMs` each one's
 * credentials are looked up again, so logging out, a password change (which revokes the
 * other tokens), a revoked token, an expired session or a removed device ends its streams.
 */
export class EventStreams {
  private readonly byOwner = new Map<string, Set<Stream>>();
  private count = 0;
  private readonly timer: NodeJS.Timeout;
  private checking = false;

  constructor(private readonly o: EventStreamOptions) {
    this.timer = setInterval(() => {
      // A check slower than the interval (a busy database) is not started twice.
      if (this.checking) return;
      this.checking = true;
      this.recheck()
        .catch(o.onError)
        .finally(() => (this.checking = false));
    }, o.recheckEveryMs);
    this.timer.unref();
  }

  /**
   * Admits a stream for `owner`, or throws too_many_streams. `end` is called if the
   * stream must stop (credentials gone, replaced, shutdown); the returned function is
   * called when it has ended for any reason.
   */
  admit(owner: StreamOwner, end: () => void): () => void {
    const key = ownerKey(owner);
    const mine = this.byOwner.get(key) ?? new Set<Stream>();
    const limit = owner.kind === 'user' ? this.o.limits.perUser : this.o.limits.perDevice;
    if (mine.size >= limit && owner.kind === 'user') {
      throw new DomainError(
        'too_many_streams',
        `You have ${limit} live-update streams open already; close another dashboard tab or window, then reload this one.`,
      );
    }
    if (this.count >= this.o.limits.total && !(owner.kind === 'device' && mine.size >= limit)) {
      throw new DomainError('too_many_streams', 'The server has too many live-update streams open right now; try again in a minute.');
    }
    if (mine.size >= limit) {
      const oldest = mine.values().next().value as Stream;
      this.remove(key, oldest);
      oldest.end();
    }
    const stream: Stream = { owner, end };
    mine.add(stream);
    this.byOwner.set(key, mine);
    this.count++;
    return () => this.remove(key, stream);
  }

  /** Streams open now, in total. */
  get size(): number {
    return this.count;
  }

  /** Ends the streams whose token or device no longer authenticates. */
  async recheck(): Promise<void> {
    const streams = [...this.byOwner.values()].flatMap((set) => [...set]);
    const tokens = [...new Set(streams.flatMap((s) => (s.owner.kind === 'user' ? [s.owner.tokenId] : [])))];
    const devices = [...new Set(streams.flatMap((s) => (s.owner.kind === 'device' ? [s.owner.deviceId] : [])))];
    const [liveTokens, liveDevices] = await Promise.all([
      tokens.length ? this.o.liveTokenIds(tokens) : new Set<string>(),
      devices.length ? this.o.liveDeviceIds(devices) : new Set<string>(),
    ]);
    for (const s of streams) {
      const live = s.owner.kind === 'user' ? liveTokens.has(s.owner.tokenId) : liveDevices.has(s.owner.deviceId);
      if (!live) {
        this.remove(ownerKey(s.owner), s);
        s.end();
      }
    }
  }

  /** Ends every stream (the server is shutting down). */
  close(): void {
    clearInterval(this.timer);
    for (const [key, set] of this.byOwner) {
      for (const s of set) {
        this.remove(key, s);
        s.end();
      }
    }
  }

  private remove(key: string, stream: Stream): void {
    const set = this.byOwner.get(key);
    if (!set?.delete(stream)) return;
    this.count--;
    if (set.size === 0) this.byOwner.delete(key);
  }
}

function ownerKey(owner: StreamOwner): string {
  return owner.kind === 'user' ? `user:${owner.userId}` : `device:${owner.deviceId}`;
}
