import { formatMoney } from '@p2pvps/protocol/money';
import type { Dispute, DisputeFacts, ResolveDisputeBody } from '@p2pvps/protocol/review-schemas';
import { findUserById } from '../../db/accounts-repo.ts';
import { isUniqueViolation } from '../../db/database.ts';
import { findDevice } from '../../db/devices-repo.ts';
import {
  closeDispute,
  findDispute,
  findDisputeOfRental,
  insertDispute,
  listDisputes,
  listRenterDisputes,
  recordOwnerRefund,
  type DisputeRow,
  type DisputeWithNames,
} from '../../db/disputes-repo.ts';
import { listRentalEvents } from '../../db/rental-events-repo.ts';
import { findRental } from '../../db/rentals-repo.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { queueDisputeResolved } from '../mail/notices.ts';
import { postDisputeRefund } from '../money/dispute-refund.ts';
import { offlineDuring } from '../rentals/rental-log.ts';
import { newId } from '../secrets.ts';
import { inTransaction } from '../../db/transactions.ts';

/**
 * Disputes: a renter reports a problem with a rental of theirs, while it runs or up to
 * `disputeWindowMs` after it ended, once per rental. The operator sees it with the rental's
 * facts (times, how it ended, the device's uptime during it, traffic, the rental's log, what
 * was paid) and either refunds part or all of what was paid to the renter's balance
 * (money/dispute-refund.ts says who bears it) or rejects it with a note. The renter is mailed
 * the outcome and sees it with `p2pvps disputes`.
 */
export const disputeWindowMs = 14 * 24 * 3_600_000;

export function presentDispute(ctx: DomainContext, row: DisputeWithNames): Dispute {
  return {
    id: row.id,
    rentalId: row.rental_id,
    deviceName: row.device_name,
    state: row.state,
    reason: row.reason,
    openedAt: row.opened_at,
    resolvedAt: row.resolved_at,
    refundMicros: Number(row.refund_micros),
    note: row.note,
    currency: ctx.settings.currency,
  };
}

export async function openDispute(ctx: DomainContext, renterId: string, rentalId: string, reason: string): Promise<Dispute> {
  const rental = await findRental(ctx.db, rentalId);
  if (!rental || rental.renter_id !== renterId) throw new DomainError('not_found');
  const now = ctx.clock.now();
  const endedAt = rental.ended_at ?? null;
  if (endedAt !== null && now.getTime() - Date.parse(endedAt) > disputeWindowMs) throw new DomainError('dispute_window_closed');
  const row: DisputeRow = {
    id: newId(),
    rental_id: rental.id,
    renter_id: renterId,
    reason,
    state: 'open',
    opened_at: now.toISOString(),
    resolved_at: null,
    refund_micros: 0,
    owner_refund_micros: 0,
    note: null,
  };
  try {
    await insertDispute(ctx.db, row);
  } catch (err) {
    if (isUniqueViolation(err)) throw new DomainError('dispute_exists');
    throw err;
  }
  return presentDispute(ctx, { ...row, device_name: rental.device_name });
}

export async function renterDisputes(ctx: DomainContext, renterId: string): Promise<Dispute[]> {
  return (await listRenterDisputes(ctx.db, renterId)).map((d) => presentDispute(ctx, d));
}

/** The renter's own dispute about a rental, if they opened one. */
export async function disputeOfRental(ctx: DomainContext, rentalId: string): Promise<Dispute | null> {
  const row = await findDisputeOfRental(ctx.db, rentalId);
  return row ? presentDispute(ctx, row) : null;
}

/** A dispute with everything the server knows about its rental, for the operator. */
async function withFacts(ctx: DomainContext, row: DisputeWithNames): Promise<DisputeFacts> {
  const rental = (await findRental(ctx.db, row.rental_id))!;
  const [device, renter, events] = await Promise.all([
    findDevice(ctx.db, rental.device_id),
    findUserById(ctx.db, rental.renter_id),
    listRentalEvents(ctx.db, rental.id),
  ]);
  const owner = device && (await findUserById(ctx.db, device.owner_id));
  const offline = offlineDuring(events, ctx.clock.now());
  return {
    ...presentDispute(ctx, row),
    deviceId: rental.device_id,
    renterEmail: renter?.email ?? '',
    ownerEmail: owner?.email ?? '',
    rental: {
      state: rental.state,
      endReason: rental.end_reason,
      detail: rental.detail,
      createdAt: rental.created_at,
      activatedAt: rental.activated_at,
      endedAt: rental.ended_at,
      prepaidHours: rental.hours,
      pricePerHourMicros: rental.price_per_hour_micros === null ? null : Number(rental.price_per_hour_micros),
      paidMicros: Number(rental.charged_micros),
      feeMicros: Number(rental.fee_micros),
      billedMinutes: rental.billed_minutes,
      bytesIn: Number(rental.bytes_in),
      bytesOut: Number(rental.bytes_out),
      offlineMinutes: offline ? Math.round(offline.offlineMs / 60_000) : null,
      uptimePercent:
        offline && offline.spanMs > 0 ? Math.round((1 - offline.offlineMs / offline.spanMs) * 1000) / 10 : offline ? 100 : null,
    },
    events: events.map((e) => ({ at: e.at, kind: e.kind, detail: e.detail })),
  };
}

export async function operatorDisputes(ctx: DomainContext, state?: DisputeRow['state']): Promise<DisputeFacts[]> {
  const rows = await listDisputes(ctx.db, state);
  return Promise.all(rows.map((r) => withFacts(ctx, r)));
}

export async function operatorDispute(ctx: DomainContext, disputeId: string): Promise<DisputeFacts> {
  const row = await findDispute(ctx.db, disputeId);
  if (!row) throw new DomainError('not_found');
  return withFacts(ctx, row);
}

/**
 * The operator settles an open dispute: a refund of at most what the rental was paid (its
 * charges so far, for one still running), through the ledger, in the same transaction as
 * the outcome; or a rejection with a note. Either way the renter is mailed.
 */
export async function resolveDispute(ctx: DomainContext, disputeId: string, decision: ResolveDisputeBody): Promise<DisputeFacts> {
  const at = ctx.clock.now().toISOString();
  await inTransaction(ctx.db, async (trx) => {
    const dispute = await findDispute(trx, disputeId);
    if (!dispute) throw new DomainError('not_found');
    if (dispute.state !== 'open')
      throw new DomainError('dispute_not_open', `This dispute was already ${dispute.state} on ${dispute.resolved_at}.`);
    const note = decision.note || null;
    if (decision.outcome === 'reject') {
      if (!(await closeDispute(trx, dispute.id, { state: 'rejected', resolved_at: at, refund_micros: 0, note })))
        throw new DomainError('dispute_not_open');
      return;
    }
    const rental = (await findRental(trx, dispute.rental_id))!;
    const paid = BigInt(rental.charged_micros);
    const amount = BigInt(decision.refundMicros);
    if (amount > paid) {
      throw new DomainError(
        'refund_exceeds_paid',
        // Exact, not rounded to cents: the operator needs the true ceiling.
        `The renter paid ${formatMoney(Number(paid), ctx.settings.currency)} for this rental; a refund cannot be more than that.`,
        { 'body.refundMicros': `must be at most ${paid}` },
      );
    }
    const device = (await findDevice(trx, rental.device_id))!;
    if (!(await closeDispute(trx, dispute.id, { state: 'refunded', resolved_at: at, refund_micros: amount, note })))
      throw new DomainError('dispute_not_open');
    const paidBy = await postDisputeRefund(trx, { disputeId: dispute.id, rental, ownerId: device.owner_id, amountMicros: amount, at });
    await recordOwnerRefund(trx, dispute.id, paidBy.fromOwnerMicros);
  });
  if (await queueDisputeResolved(ctx, disputeId)) ctx.mailQueued?.();
  return operatorDispute(ctx, disputeId);
}
