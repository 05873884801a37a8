import { UsageAck, rentalStatePath, federationUsagePath, type UsageReport } from '@p2pvps/protocol/federation-rental-schemas';
import type { EndReason } from '@p2pvps/protocol/schemas';
import { findDevice } from '../db/devices-repo.ts';
import { findPeer, type PeerRow } from '../db/federation-repo.ts';
import { insertUsage, lastUsage, listOriginRentalsToReport, listUnackedUsage, setUsageAck } from '../db/federation-rentals-repo.ts';
import { listRentalEvents } from '../db/rental-events-repo.ts';
import { findRental, updateRental, type RentalRow } from '../db/rentals-repo.ts';
import { inTransaction } from '../db/transactions.ts';
import type { DomainContext } from '../domain/context.ts';
import { postMany } from '../domain/money/ledger.ts';
import { billMinutes } from '../domain/money/metering.ts';
import { endRental } from '../domain/rentals/ending.ts';
import type { FederationClient } from './federation-client.ts';
import { objectHash, objectSignatureValid, signObject, type ObjectSigner } from './signed-objects.ts';
import { homeServerPosting, nextReport } from './usage-reports.ts';

const minuteMs = 60_000;
/** More than any balance: a peer's rental is paid by its guarantee, not from an account here. */
const unbounded = 2n ** 62n;

export interface RentalReportsOptions {
  ctx: DomainContext;
  client: FederationClient;
  signer(): ObjectSigner;
  /** A running rental is reported once this many whole minutes are unreported (and at its end, whatever is left). */
  reportEveryMinutes: number;
}

/**
 * What the device's server tells the renter's server about the peers' rentals it runs
 * (docs/federation.md): the minutes served, as signed usage reports posted once in our
 * ledger, and state changes in order. Both are derived from the database and sent until the
 * peer acknowledges them, so while the peer is down they wait and go in order once it is back.
 * It also ends pay-as-you-go rentals whose guarantee ran out.
 */
export class RentalReports {
  constructor(private readonly o: RentalReportsOptions) {}

  private get ctx(): DomainContext {
    return this.o.ctx;
  }

  async tick(): Promise<void> {
    const rentals = await listOriginRentalsToReport(this.ctx.db);
    const now = this.ctx.clock.now();
    for (const r of rentals) {
      if (
        (r.state === 'requested' || r.state === 'active') &&
        r.hours === null &&
        r.guarantee_until &&
        Date.parse(r.guarantee_until) < now.getTime()
      ) {
        await endRental(this.ctx, r, 'guarantee_expired', 'The renter’s server did not renew its guarantee.');
      }
    }
    for (const r of await listOriginRentalsToReport(this.ctx.db)) await this.bill(r);
    await this.sendReports();
    for (const r of await listOriginRentalsToReport(this.ctx.db)) await this.sendState(r);
  }

  /** Reports the minutes served since the last report: while it runs once enough have gathered, and what is left at its end. */
  private async bill(r: RentalRow): Promise<void> {
    if (r.billed_until === null || r.origin_peer_id == null) return;
    const since = Date.parse(r.billed_until);
    const running = r.state === 'active';
    const until = running ? this.ctx.clock.now().getTime() : await this.endedAt(r);
    const minutes = Math.max(0, Math.floor((until - since) / minuteMs));
    if (running && minutes < this.o.reportEveryMinutes) return;
    const online = this.ctx.tunnels.isOnline(r.device_id) || !running;
    const device = await findDevice(this.ctx.db, r.device_id);
    const peer = await findPeer(this.ctx.db, r.origin_peer_id);
    if (!device || !peer) return;
    await inTransaction(this.ctx.db, async (trx) => {
      const last = await lastUsage(trx, peer.id, r.id);
      const previous = last
        ? (() => {
            const p = JSON.parse(last.report_json) as UsageReport;
            return { seq: p.seq, hash: last.report_hash, totalMinutes: p.totalMinutes, totalMicros: BigInt(p.totalMicros) };
          })()
        : null;
      // Offline minutes are not billed (as for a local rental): the report covers them with none.
      const billed = online ? minutes : 0;
      const billedUntil = new Date(since + minutes * minuteMs).toISOString();
      const unsigned = nextReport(previous, {
        rentalId: r.id,
        counterparty: peer.url,
        servedBy: this.o.signer().url,
        from: r.billed_until!,
        to: billedUntil,
        minutes: billed,
        pricePerHourMicros: BigInt(r.price_per_hour_micros ?? 0),
      });
      const bill = billMinutes(r, billed, unbounded);
      const at = this.ctx.clock.now().toISOString();
      if (billed > 0) {
        const report = signObject(unsigned, this.o.signer());
        await postMany(trx, [
          homeServerPosting(
            { rentalId: r.id, ownerId: device.owner_id, peerId: peer.id, deviceName: r.device_name },
            unsigned,
            bill.feeNow,
            at,
          ),
        ]);
        await insertUsage(trx, {
          peer_id: peer.id,
          rental_id: r.id,
          seq: report.seq,
          report_json: JSON.stringify(report),
          report_hash: objectHash(report),
          amount_micros: BigInt(report.amountMicros),
          ack_json: null,
          created_at: at,
        });
      }
      await updateRental(trx, r.id, {
        billed_minutes: bill.billedMinutes,
        charged_micros: bill.charged,
        fee_micros: bill.fee,
        // Ended and billed to its end: nothing more to report.
        billed_until: running ? billedUntil : null,
      });
    });
  }

  /** When the rental stopped running: its move to ending, as its log has it. */
  private async endedAt(r: RentalRow): Promise<number> {
    const ending = (await listRentalEvents(this.ctx.db, r.id)).find((e) => e.kind === 'ending');
    return ending ? Date.parse(ending.at) : Date.parse(r.ended_at ?? r.billed_until!);
  }

  /** Sends the reports the peers have not acknowledged, each rental's in order, and keeps each peer's signed ack. */
  private async sendReports(): Promise<void> {
    const stalled = new Set<string>();
    const peers = new Map<string, PeerRow | undefined>();
    for (const u of await listUnackedUsage(this.ctx.db)) {
      if (stalled.has(u.rental_id)) continue;
      if (!peers.has(u.peer_id)) peers.set(u.peer_id, await findPeer(this.ctx.db, u.peer_id));
      const peer = peers.get(u.peer_id);
      if (!peer || peer.state !== 'active') continue;
      const reply = await this.o.client.request(peer.url, 'POST', federationUsagePath, JSON.parse(u.report_json)).catch(() => null);
      const ack = reply?.status === 200 ? UsageAck.safeParse(reply.body) : null;
      const key = { id: peer.fingerprint, alg: 'ed25519' as const, publicKey: peer.public_key };
      if (
        !ack?.success ||
        ack.data.reportHash !== u.report_hash ||
        !objectSignatureValid(reply!.body as Record<string, unknown>, { url: peer.url, key })
      ) {
        // The later reports of this rental wait for this one.
        stalled.add(u.rental_id);
        continue;
      }
      await setUsageAck(this.ctx.db, u.peer_id, u.rental_id, u.seq, JSON.stringify(reply!.body));
    }
  }

  /** Tells the peer the rental's state changed, one change at a time, until it acknowledges it. */
  private async sendState(r: RentalRow): Promise<void> {
    const sent = r.origin_state_sent ?? 'requested';
    if (sent === r.state || !r.origin_peer_id) return;
    const peer = await findPeer(this.ctx.db, r.origin_peer_id);
    if (!peer || peer.state !== 'active') return;
    const seq = (r.origin_state_seq ?? 0) + 1;
    const body = { seq, state: r.state, at: this.ctx.clock.now().toISOString(), endReason: (r.end_reason as EndReason | null) ?? null };
    const reply = await this.o.client.request(peer.url, 'POST', rentalStatePath(r.id), body).catch(() => null);
    if (reply?.status !== 200) return;
    const current = await findRental(this.ctx.db, r.id);
    if (current) await updateRental(this.ctx.db, r.id, { origin_state_seq: seq, origin_state_sent: r.state });
  }
}
