/**
 * A device's reliability score: the one place its formula lives (docs/reliability.md says
 * the same in words for owners).
 *
 * Over the last 30 UTC days (today and the 29 before), from the device's daily figures:
 *
 *   E  time it was expected online: on the market (priced) or rented
 *   U  of E, time its tunnel was up
 *   M  of E, time it was down inside a maintenance window its owner declared ahead,
 *      while it was not rented (downtime during a rental always counts in full)
 *   D  = E − U − M, ordinary downtime
 *
 *   score = 100 × (1 − (D + M/4) / E) − 3 × failed container starts − 10 × lost rentals
 *
 * clamped to 0–100 and rounded to one decimal. A device is "new" (no score: null, shown as
 * "new", never a flattering 100 %) until its first expected day is at least 7 days back
 * and it has at least 24 h of expected time in the window.
 */

export interface ReliabilityFigures {
  /** UTC day, `YYYY-MM-DD`. */
  day: string;
  expectedMs: number;
  onlineMs: number;
  maintenanceMs: number;
  failedStarts: number;
  lostRentals: number;
}

export const reliabilityRules = {
  windowDays: 30,
  /** Downtime inside a declared maintenance window counts this much. */
  maintenanceWeight: 0.25,
  failedStartPenalty: 3,
  lostRentalPenalty: 10,
  newForDays: 7,
  minExpectedMs: 24 * 3_600_000,
} as const;

const dayMs = 86_400_000;

/** The UTC day of a time, `YYYY-MM-DD`. */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** The first day of the 30-day window that ends today. */
export function windowStart(now: Date): string {
  return utcDay(new Date(now.getTime() - (reliabilityRules.windowDays - 1) * dayMs));
}

/** The window's days, oldest first, today last. */
export function windowDays(now: Date): string[] {
  return Array.from({ length: reliabilityRules.windowDays }, (_, i) =>
    utcDay(new Date(now.getTime() - (reliabilityRules.windowDays - 1 - i) * dayMs)),
  );
}

/** The formula on summed figures, or null when nothing was expected. */
export function scoreOf(f: Omit<ReliabilityFigures, 'day'>): number | null {
  if (f.expectedMs <= 0) return null;
  const maintenance = Math.min(f.maintenanceMs, f.expectedMs);
  const down = Math.max(0, f.expectedMs - Math.min(f.onlineMs, f.expectedMs) - maintenance);
  const availability = 1 - (down + reliabilityRules.maintenanceWeight * maintenance) / f.expectedMs;
  const score =
    100 * availability - reliabilityRules.failedStartPenalty * f.failedStarts - reliabilityRules.lostRentalPenalty * f.lostRentals;
  return Math.round(Math.min(100, Math.max(0, score)) * 10) / 10;
}

/** Figures summed over the window, with the first day in it the device was expected online. */
export interface ReliabilityTotals extends Omit<ReliabilityFigures, 'day'> {
  firstDay: string | null;
}

/** The score from the window's totals (see the formula above), or null while the device is new. */
export function windowScore(t: ReliabilityTotals, now: Date): number | null {
  if (t.firstDay === null || t.expectedMs < reliabilityRules.minExpectedMs) return null;
  const newUntil = utcDay(new Date(now.getTime() - reliabilityRules.newForDays * dayMs));
  if (t.firstDay > newUntil) return null;
  return scoreOf(t);
}

/** The device's score at `now` from its daily figures (any days; those outside the window are ignored), or null while it is new. */
export function reliabilityScore(days: readonly ReliabilityFigures[], now: Date): number | null {
  const from = windowStart(now);
  const today = utcDay(now);
  const sum: ReliabilityTotals = { expectedMs: 0, onlineMs: 0, maintenanceMs: 0, failedStarts: 0, lostRentals: 0, firstDay: null };
  for (const d of days) {
    if (d.day < from || d.day > today) continue;
    sum.expectedMs += d.expectedMs;
    sum.onlineMs += d.onlineMs;
    sum.maintenanceMs += d.maintenanceMs;
    sum.failedStarts += d.failedStarts;
    sum.lostRentals += d.lostRentals;
    if (d.expectedMs > 0 && (sum.firstDay === null || d.day < sum.firstDay)) sum.firstDay = d.day;
  }
  return windowScore(sum, now);
}
