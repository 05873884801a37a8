import { z } from 'zod';
import { Id } from './schemas.ts';

/**
 * A device's reliability (docs/reliability.md): its score over the last 30 days, the
 * per-day figures behind it, and the maintenance windows its owner declares ahead.
 */

const isoTime = z.string().datetime({ offset: true });
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a day like 2026-03-02');

/** One UTC day of a device's record. Times are in milliseconds. */
export const ReliabilityDay = z.object({
  day,
  /** Time the device was on the market (priced) or rented: the time it was expected online. */
  expectedMs: z.number().int().min(0),
  /** Of that, the time its tunnel was up. */
  onlineMs: z.number().int().min(0),
  /** Of the time it was down, the part inside a maintenance window declared ahead while it was not rented (counts a quarter). */
  maintenanceMs: z.number().int().min(0),
  /** Rentals whose container the device failed to start. */
  failedStarts: z.number().int().min(0),
  /** Rentals the device lost (`device_lost`). */
  lostRentals: z.number().int().min(0),
  /** The day's own score by the same formula, in percent; null for a day it was not expected online. */
  percent: z.number().min(0).max(100).nullable(),
});
export type ReliabilityDay = z.infer<typeof ReliabilityDay>;

export const ReliabilityHistory = z.object({
  deviceId: Id,
  /** The score over the last 30 days in percent; null while the device is new (too little history to judge). */
  percent: z.number().min(0).max(100).nullable(),
  /** The last 30 UTC days, oldest first, today last (days without a record are zeros). */
  days: z.array(ReliabilityDay),
});
export type ReliabilityHistory = z.infer<typeof ReliabilityHistory>;

export const MaintenanceWindow = z.object({
  id: Id,
  deviceId: Id,
  startsAt: isoTime,
  endsAt: isoTime,
  createdAt: isoTime,
});
export type MaintenanceWindow = z.infer<typeof MaintenanceWindow>;

/** Bounds of a maintenance window: declared at least this far ahead, at most this long, this far ahead and this many at once. */
export const maintenanceRules = {
  minNoticeMs: 3_600_000,
  minDurationMinutes: 15,
  maxDurationMinutes: 8 * 60,
  maxAheadMs: 30 * 24 * 3_600_000,
  maxUpcoming: 8,
} as const;

export const MaintenanceBody = z
  .object({
    startsAt: isoTime,
    minutes: z.number().int().min(maintenanceRules.minDurationMinutes).max(maintenanceRules.maxDurationMinutes),
  })
  .strict();

export const MaintenanceWindows = z.object({ windows: z.array(MaintenanceWindow) });
export const MaintenanceParams = z.object({ deviceId: Id, windowId: Id }).strict();
