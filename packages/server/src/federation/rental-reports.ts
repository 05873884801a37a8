import { UsageAck, rentalStatePath, federationUsagePath, type UsageReport } from '@p2pvps/protocol/federation-rental-schemas';
import type { EndReason } from '@p2pvps/protocol/schemas';
import { findDevice } from '../db/devices-repo.ts';
import { findPeer, type PeerRow } from '../db/federation-repo.ts';
import { listRentalHandbacks, listUncarriedHandbacks, markHandbackCarried, type BackupHandbackRow } from '../db/federation-backups-repo.ts';
import {
  insertUsage,
  lastUsage,
  listOriginRentalsToReport,
  listRentalUsage,
  listUnackedUsage,
  setUsageAck,
} from '../db/federation-rentals-repo.ts';
import { listRentalEvents } from '../db/rental-events-repo.ts';
import { findRental, updateRental, type RentalRow } from '../db/rentals-repo.ts';
import { inTransaction } from '../db/transactions.ts';
import type { DomainContext } from '../domain/context.ts';
import { postMany } from '../domain/money/ledger.ts';
import { billMinutes } from '../domain/money/metering.ts';
import { endRental } from '../domain/rentals/ending.ts';
import type { FederationClient } from './federation-client.ts';
import { objectHash, objectSignatureValid, signObject, type ObjectSigner } from './signed-objects.ts';
import { coveredMinutes, homeServerPosting, nextReport, type ReportChain } from './usage-reports.ts';

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
  /** When this process started: a device cannot have been served here before (we were down, maybe at a backup). */
  private readonly startedAt: number;
  /** Since when each device has been seen online here without a break, as our rounds saw it. */
  private readonly onlineSince = new Map<string, number>();
  private readonly seenOffline = new Set<string>();

  constructor(private readonly o: RentalReportsOptions) {
    this.startedAt = o.ctx.clock.now().getTime();
  }

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
    await this.carry();
    for (const r of await listOriginRentalsToReport(this.ctx.db)) await this.bill(r);
    await this.sendReports();
    for (const r of await listOriginRentalsToReport(this.ctx.db)) await this.sendState(r);
  }

  /** Reports the minutes served since the last report: while it runs once enough have gathered, and what is left at its end. */
  private async bill(r: RentalRow): Promise<void> {
    if (r.billed_until === null || r.origin_peer_id == null) return;
    const since = Date.parse(r.billed_until);
    const running = r.state === 'active';
    if (running) this.observe(r.device_id);
    const until = running ? this.ctx.clock.now().getTime() : await this.endedAt(r);
    const minutes = Math.max(0, Math.floor((until - since) / minuteMs));
    if (running && minutes < this.o.reportEveryMinutes) return;
    const online = this.ctx.tunnels.isOnline(r.device_id) || !running;
    const device = await findDevice(this.ctx.db, r.device_id);
    const peer = await findPeer(this.ctx.db, r.origin_peer_id);
    if (!device || !peer) return;
    await inTransaction(this.ctx.db, async (trx) => {
      const previous = chainOf(await lastUsage(trx, peer.id, r.id));
      // Offline minutes are not billed (as for a local rental): the report covers them with none.
      // Nor the minutes before the device was here (we were down; a backup may have served
      // them and hands them back, carried by carry()), nor a stretch a backup already handed back.
      // The report covers whole minutes from `since`: what is billed ends where it ends.
      const end = since + minutes * minuteMs;
      const servedFrom = running ? Math.max(since, this.onlineSince.get(r.device_id) ?? since) : since;
      const handedBack = handbackSpans(await listRentalHandbacks(trx, r.id));
      const billed = online ? Math.max(0, Math.floor((end - servedFrom) / minuteMs) - coveredMinutes(handedBack, servedFrom, end)) : 0;
      const billedUntil = new Date(end).toISOString();
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
        const report = await this.postAndKeep(trx, { rental: r, ownerId: device.owner_id, peerId: peer.id }, unsigned, bill.feeNow, at);
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

  /** Notes whether `deviceId` is online here now, and since when it has been without a break. */
  /** Signs a report, posts it in our ledger and keeps it until the renter's server acknowledges it: our own minutes and carried ones alike. */
  private async postAndKeep(
    trx: Parameters<typeof postMany>[0],
    on: { rental: RentalRow; ownerId: string; peerId: string },
    unsigned: Parameters<typeof homeServerPosting>[1],
    feeNow: Parameters<typeof homeServerPosting>[2],
    at: string,
  ) {
    const report = signObject(unsigned, this.o.signer());
    const { rental: r, ownerId, peerId } = on;
    await postMany(trx, [homeServerPosting({ rentalId: r.id, ownerId, peerId, deviceName: r.device_name }, unsigned, feeNow, at)]);
    await insertUsage(trx, {
      peer_id: peerId,
      rental_id: r.id,
      seq: report.seq,
      report_json: JSON.stringify(report),
      report_hash: objectHash(report),
      amount_micros: BigInt(report.amountMicros),
      ack_json: null,
      created_at: at,
    });
    return report;
  }

  private observe(deviceId: string): void {
    if (!this.ctx.tunnels.isOnline(deviceId)) {
      this.onlineSince.delete(deviceId);
      this.seenOffline.add(deviceId);
    } else if (!this.onlineSince.has(deviceId)) {
      // Online at our first look: since we started at the earliest. Back after a break: since now.
      this.onlineSince.set(deviceId, this.seenOffline.has(deviceId) ? this.ctx.clock.now().getTime() : this.startedAt);
    }
  }

  /**
   * The minutes a backup served a peer's renter while we were away (docs/federation.md, "The
   * join"): each hand-back goes into the rental's next usage report to the renter's server,
   * once (marked carried in the same transaction), `servedBy` the backup, at the rental's
   * price; the owner earns them less our fee, as for minutes we served (the backup's fee was
   * posted when we took the hand-back). Minutes we billed ourselves over the same stretch
   * are left out, so nothing is charged twice.
   */
  private async carry(): Promise<void> {
    for (const h of await listUncarriedHandbacks(this.ctx.db)) {
      const r = await findRental(this.ctx.db, h.rental_id);
      if (!r?.origin_peer_id) continue;
      const device = await findDevice(this.ctx.db, r.device_id);
      const peer = await findPeer(this.ctx.db, r.origin_peer_id);
      const backup = await findPeer(this.ctx.db, h.peer_id);
      if (!device || !peer || !backup) continue;
      await inTransaction(this.ctx.db, async (trx) => {
        const reports = await listRentalUsage(trx, peer.id, r.id);
        const previous = chainOf(reports.at(-1));
        // Our own reports bill the last `minutes` of their span (the rest was offline or away).
        const own = reports
          .map((u) => JSON.parse(u.report_json) as UsageReport)
          .filter((u) => u.servedBy === this.o.signer().url)
          .map((u) => ({ from: new Date(Date.parse(u.to) - u.minutes * minuteMs).toISOString(), to: u.to, minutes: u.minutes }));
        const minutes = Math.max(0, h.minutes - coveredMinutes(own, h.started_at, h.ended_at));
        // Carried by the report made here, or (nothing left to bill) by the last one before it.
        const seq = minutes > 0 ? (previous?.seq ?? 0) + 1 : (previous?.seq ?? 0);
        if (!(await markHandbackCarried(trx, h.peer_id, h.service_id, seq)) || minutes === 0) return;
        const fresh = (await findRental(trx, r.id))!;
        const unsigned = nextReport(previous, {
          rentalId: r.id,
          counterparty: peer.url,
          servedBy: backup.url,
          from: h.started_at,
          to: h.ended_at,
          minutes,
          pricePerHourMicros: BigInt(fresh.price_per_hour_micros ?? 0),
        });
        const bill = billMinutes(fresh, minutes, unbounded);
        const at = this.ctx.clock.now().toISOString();
        const report = await this.postAndKeep(trx, { rental: r, ownerId: device.owner_id, peerId: peer.id }, unsigned, bill.feeNow, at);
        await updateRental(trx, r.id, { billed_minutes: bill.billedMinutes, charged_micros: bill.charged, fee_micros: bill.fee });
      });
    }
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

/** What the next report must follow: the last one made, or null for the first. */
function chainOf(last: { report_json: string; report_hash: string } | undefined): ReportChain | null {
  if (!last) return null;
  const p = JSON.parse(last.report_json) as UsageReport;
  return { seq: p.seq, hash: last.report_hash, totalMinutes: p.totalMinutes, totalMicros: BigInt(p.totalMicros) };
}

function handbackSpans(rows: BackupHandbackRow[]): { from: string; to: string; minutes: number }[] {
  return rows.map((h) => ({ from: h.started_at, to: h.ended_at, minutes: h.minutes }));
}
