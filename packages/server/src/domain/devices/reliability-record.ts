import type { ReliabilityHistory } from '@p2pvps/protocol/reliability-schemas';
import type { Db } from '../../db/database.ts';
import { findDevice } from '../../db/devices-repo.ts';
import {
  deleteReliabilityDaysBefore,
  listReliabilityDays,
  listReliabilityTotals,
  recordIncident,
  sampleAvailability,
  saveReliabilityScores,
  type ReliabilityDayRow,
} from '../../db/reliability-repo.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { newId } from '../secrets.ts';
import { scoreOf, utcDay, windowDays, windowScore, windowStart, type ReliabilityFigures } from './reliability.ts';

/**
 * Keeps the figures behind reliability scores (reliability.ts) and the scores themselves:
 * the worker samples every device each tick into its day's row, and then writes each
 * device's score onto its row, so the market reads one column and never the history.
 */

const figures = (r: ReliabilityDayRow): ReliabilityFigures => ({
  day: r.day,
  expectedMs: Number(r.expected_ms),
  onlineMs: Number(r.online_ms),
  maintenanceMs: Number(r.maintenance_ms),
  failedStarts: Number(r.failed_starts),
  lostRentals: Number(r.lost_rentals),
});

/** Counts `elapsedMs` up to now into every expected device's day (see sampleAvailability). */
export function sampleReliability(ctx: DomainContext, elapsedMs: number): Promise<void> {
  const now = ctx.clock.now();
  return sampleAvailability(ctx.db, now.toISOString(), utcDay(now), Math.round(elapsedMs));
}

/**
 * Recomputes every device's score from its last 30 days (one grouped query, a row per
 * device), writes those that changed, and drops days no window reaches.
 */
export async function refreshReliabilityScores(ctx: DomainContext): Promise<number> {
  const now = ctx.clock.now();
  const from = windowStart(now);
  await deleteReliabilityDaysBefore(ctx.db, from);
  const changed: [string, number | null][] = [];
  for (const t of await listReliabilityTotals(ctx.db, from)) {
    const score = windowScore(
      {
        expectedMs: t.expected_ms,
        onlineMs: t.online_ms,
        maintenanceMs: t.maintenance_ms,
        failedStarts: t.failed_starts,
        lostRentals: t.lost_rentals,
        firstDay: t.first_day,
      },
      now,
    );
    if (score !== t.current) changed.push([t.device_id, score]);
  }
  await saveReliabilityScores(ctx.db, changed, from);
  return changed.length;
}

/** The worker's tick; what it counts and when it refreshes scores: reliability-ticks.ts. */
export async function reliabilityTick(ctx: DomainContext, elapsedMs: number, refreshScores: boolean): Promise<void> {
  if (elapsedMs > 0) await sampleReliability(ctx, elapsedMs);
  if (refreshScores) await refreshReliabilityScores(ctx);
}

/** A failed container start or a lost rental, in the transaction that ends the rental. */
export function recordRentalIncident(
  trx: Db,
  ctx: DomainContext,
  rental: { id: string; device_id: string },
  kind: 'failed_start' | 'lost_rental',
  detail: string | null,
): Promise<void> {
  const now = ctx.clock.now();
  return recordIncident(
    trx,
    { id: newId(), device_id: rental.device_id, rental_id: rental.id, kind, detail, at: now.toISOString() },
    utcDay(now),
  );
}

/**
 * A device's score and its last 30 days. Anyone may see it for a device on the market
 * (renters judge listings by it); otherwise only its owner.
 */
export async function reliabilityHistory(ctx: DomainContext, deviceId: string, ownerId?: string): Promise<ReliabilityHistory> {
  const device = await findDevice(ctx.db, deviceId);
  const visible = device && (ownerId !== undefined ? device.owner_id === ownerId : device.on_market === 1 && device.public_key !== null);
  if (!visible) throw new DomainError('not_found');
  const now = ctx.clock.now();
  const rows = new Map((await listReliabilityDays(ctx.db, windowStart(now), deviceId)).map((r) => [r.day, figures(r)]));
  const days = windowDays(now).map((day) => {
    const f = rows.get(day) ?? { day, expectedMs: 0, onlineMs: 0, maintenanceMs: 0, failedStarts: 0, lostRentals: 0 };
    return { ...f, percent: scoreOf(f) };
  });
  return { deviceId, percent: device.reliability_percent ?? null, days };
}
