import { rentalMovedPath, type MovedMessage } from '@p2pvps/protocol/federation-rental-schemas';
import type { Db } from '../db/database.ts';
import { findOpenService } from '../db/federation-backups-repo.ts';
import type { Clock } from '../domain/clock.ts';
import { describeReply, type FederationClient } from './federation-client.ts';

/** The first retry of an unanswered `moved` waits this long, each next one twice as long... */
export const movedFirstRetryMs = 1_000;
/** ...up to this. */
export const movedMaxRetryMs = 60_000;
/** Refusals that will not change on a retry: the renter's server does not hold the rental, or not from us. */
const final = new Set([400, 403, 404]);

interface PendingMove {
  serviceId: string;
  deviceId: string;
  originUrl: string;
  rentalId: string;
  body: MovedMessage;
  attempts: number;
  nextAt: number;
  sending: boolean;
}

export interface MovedSenderOptions {
  db: Db;
  clock: Clock;
  client: FederationClient;
  log: { warn(fields: object, message: string): void };
}

/**
 * The backup telling a peer's renter's server where the rental is served now (`moved`,
 * docs/federation.md "The join"), until that server acknowledges it: a move it did not
 * answer (down, unreachable, an error of its own) is sent again with backoff, 1 s doubling
 * to 60 s, for as long as the stretch lasts. Once the device has left us the move is stale
 * (its home shows its own address again) and is dropped. Kept in memory: if we restart,
 * the device's tunnel comes up again and opens a new stretch, which sends a new move.
 */
export class MovedSender {
  private readonly pending = new Map<string, PendingMove>();

  constructor(private readonly o: MovedSenderOptions) {}

  /** Sends the move of stretch `serviceId` now, and keeps it for retries until it is acknowledged. */
  async send(m: Omit<PendingMove, 'attempts' | 'nextAt' | 'sending'>): Promise<void> {
    const p: PendingMove = { ...m, attempts: 0, nextAt: this.o.clock.now().getTime(), sending: false };
    this.pending.set(m.serviceId, p);
    await this.attempt(p);
  }

  /** Sends again every move that is due; drops those whose stretch is over. */
  async retry(): Promise<void> {
    const now = this.o.clock.now().getTime();
    for (const p of [...this.pending.values()]) {
      if (p.sending || p.nextAt > now) continue;
      if ((await findOpenService(this.o.db, p.deviceId))?.id !== p.serviceId) {
        this.pending.delete(p.serviceId);
        continue;
      }
      await this.attempt(p);
    }
  }

  /** Moves not acknowledged yet, for the operator's view and tests. */
  waiting(): { serviceId: string; attempts: number; nextAt: string }[] {
    return [...this.pending.values()].map((p) => ({
      serviceId: p.serviceId,
      attempts: p.attempts,
      nextAt: new Date(p.nextAt).toISOString(),
    }));
  }

  private async attempt(p: PendingMove): Promise<void> {
    p.sending = true;
    const reply = await this.o.client.request(p.originUrl, 'POST', rentalMovedPath(p.rentalId), p.body).catch((err: Error) => ({
      status: 0,
      body: { code: 'federation_peer_unreachable', message: err.message },
    }));
    p.sending = false;
    if (reply.status === 200) {
      this.pending.delete(p.serviceId);
      return;
    }
    this.o.log.warn({ peer: p.originUrl }, `federation: moved: ${describeReply(reply)}`);
    if (final.has(reply.status)) {
      this.pending.delete(p.serviceId);
      return;
    }
    p.attempts += 1;
    p.nextAt = this.o.clock.now().getTime() + Math.min(movedMaxRetryMs, movedFirstRetryMs * 2 ** (p.attempts - 1));
  }
}
