import { DomainError } from '../domain/errors.ts';

/** Whose stream it is: a user, through one of their tokens (agents' nudges ride their tunnels instead). */
export type StreamOwner = { userId: string; tokenId: string };

export interface EventStreamOptions {
  /** Streams open at once, in total and per user. */
  limits: { total: number; perUser: number };
  /** Of these API token or session IDs, the ones that still authenticate (not revoked, not expired). */
  liveTokenIds(ids: string[]): Promise<Set<string>>;
  /** How often every open stream's credentials are checked again. */
  recheckEveryMs: number;
  onError(err: unknown): void;
}

interface Stream {
  owner: StreamOwner;
  end(): void;
}

/**
 * The server-sent event streams open on the API (dashboards' live updates). Each holds a
 * socket and a listener for as long as the client likes, so they are capped in total and
 * per user; a user over the cap is refused.
 *
 * A stream was authenticated once, when it opened; every `recheckEveryMs` each one's
 * credentials are looked up again, so logging out, a password change (which revokes the
 * other tokens), a revoked token or an expired session ends its streams.
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
    const limit = this.o.limits.perUser;
    if (mine.size >= limit) {
      throw new DomainError(
        'too_many_streams',
        `You have ${limit} live-update streams open already; close another dashboard tab or window, then reload this one.`,
      );
    }
    if (this.count >= this.o.limits.total) {
      throw new DomainError('too_many_streams', 'The server has too many live-update streams open right now; try again in a minute.');
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

  /** Ends the streams whose token no longer authenticates. */
  async recheck(): Promise<void> {
    const streams = [...this.byOwner.values()].flatMap((set) => [...set]);
    const tokens = [...new Set(streams.map((s) => s.owner.tokenId))];
    const liveTokens = tokens.length ? await this.o.liveTokenIds(tokens) : new Set<string>();
    for (const s of streams) {
      if (!liveTokens.has(s.owner.tokenId)) {
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
  return owner.userId;
}
