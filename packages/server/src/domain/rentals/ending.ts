import type { EndReason, RentalState } from '@p2pvps/protocol/schemas';
import type { Db } from '../../db/database.ts';
import { updateRentalFrom, type RentalRow } from '../../db/rentals-repo.ts';
import type { DomainContext } from '../context.ts';
import { recordRentalIncident } from '../devices/reliability-record.ts';
import { closeHold } from '../money/holds.ts';
import { settleRental } from '../money/metering.ts';
import { canTake, nextRentalState } from './rental-state.ts';
import { recordRentalEvent } from './rental-log.ts';
import { inTransaction } from '../../db/transactions.ts';

/**
 * The one way a rental ends, in the caller's database transaction: the minutes up to now
 * are billed before the meter stops, and a prepaid hold is closed with it. False if the
 * rental was not open (or moved on meanwhile). After the transaction commits, the caller
 * tells the device and the renter with `announceEnd`.
 */
export async function endRentalIn(
  trx: Db,
  ctx: DomainContext,
  row: RentalRow,
  reason: EndReason,
  detail: string | null = null,
): Promise<boolean> {
  if (!canTake(row.state as RentalState, 'end')) return false;
  const to = nextRentalState(row.state as RentalState, { type: 'end', reason });
  if (row.state === 'active') await settleRental(ctx, row.id, ctx.tunnels.isOnline(row.device_id), trx);
  const ended = await updateRentalFrom(trx, row.id, row.state, { state: to, end_reason: reason, detail });
  if (ended) {
    await closeHold(trx, ctx, row.id, reason);
    await recordRentalEvent(trx, row.id, 'ending', ctx.clock.now().toISOString(), detail ? `${reason}: ${detail}` : reason);
    // The reliability score counts these against the device (docs/reliability.md).
    if (reason === 'device_lost') await recordRentalIncident(trx, ctx, row, 'lost_rental', detail);
    if (reason === 'provisioning_failed') await recordRentalIncident(trx, ctx, row, 'failed_start', detail);
  }
  return ended;
}

/** Tells the rental's agent at once, and its renter. */
export function announceEnd(ctx: DomainContext, row: Pick<RentalRow, 'id' | 'device_id'>, reason: EndReason): void {
  // An encrypted rental's secret, if still held, has nothing left to open.
  ctx.storageSecrets?.drop(row.id);
  ctx.notifyDevice(row.device_id, `rental_${reason}`);
  ctx.notifyRental?.(row.id, 'ended');
}

/** Moves an open rental to ending and tells its agent and renter at once. False if it was not open. */
export async function endRental(ctx: DomainContext, row: RentalRow, reason: EndReason, detail: string | null = null): Promise<boolean> {
  if (!canTake(row.state as RentalState, 'end')) return false;
  const moved = await inTransaction(ctx.db, (trx) => endRentalIn(trx, ctx, row, reason, detail));
  if (moved) announceEnd(ctx, row, reason);
  return moved;
}
