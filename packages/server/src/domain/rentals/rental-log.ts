import type { Db } from '../../db/database.ts';
import { findOpenRentalForDevice } from '../../db/rentals-repo.ts';
import { insertRentalEvent, type RentalEventRow } from '../../db/rental-events-repo.ts';
import { sortableId } from '../secrets.ts';

/**
 * A rental's own log: what the server saw happen to it, in order. It is what the operator
 * judges a dispute by (when the container started and ended, when the device dropped off
 * and came back), so it records facts the server observed itself, never the renter's word.
 *
 * Kinds: `requested` (rented), `container_started` (the agent reported the container ready),
 * `device_offline` / `device_online` (the device's tunnel went down or came back while the
 * rental was open), `ending` (the rental was ended; detail: the reason, and the device's
 * words for a failure), `container_removed` (the agent reported the container gone and wiped).
 */
export type RentalEventKind = 'requested' | 'container_started' | 'device_offline' | 'device_online' | 'ending' | 'container_removed';

export function recordRentalEvent(
  db: Db,
  rentalId: string,
  kind: RentalEventKind,
  at: string,
  detail: string | null = null,
): Promise<unknown> {
  return insertRentalEvent(db, { id: sortableId(), rental_id: rentalId, at, kind, detail });
}

/** The device's tunnel went down or came back: logged on its open rental, if it has one. */
export async function recordDeviceTunnel(db: Db, deviceId: string, online: boolean, at: string): Promise<void> {
  const rental = await findOpenRentalForDevice(db, deviceId);
  if (rental) await recordRentalEvent(db, rental.id, online ? 'device_online' : 'device_offline', at);
}

/**
 * How long the device was away while the renter's container was meant to run: from the
 * container's start to the rental's end (the `ending` event, else `until`), the time
 * between each `device_offline` and the next `device_online`. Null when the log does not
 * cover the rental (it never started, or ran before the log existed). The server's own
 * downtime is not the device's fault and does not count: after a restart the log has no
 * offline event, only the device's return.
 */
export function offlineDuring(
  events: readonly Pick<RentalEventRow, 'at' | 'kind'>[],
  until: Date,
): { offlineMs: number; spanMs: number } | null {
  const start = events.find((e) => e.kind === 'container_started');
  if (!start) return null;
  const from = Date.parse(start.at);
  const ending = events.find((e) => e.kind === 'ending');
  const to = Math.max(from, ending ? Date.parse(ending.at) : until.getTime());
  let offlineMs = 0;
  let downSince: number | null = null;
  for (const e of events) {
    const at = Math.min(Math.max(Date.parse(e.at), from), to);
    if (e.kind === 'device_offline' && downSince === null) downSince = at;
    else if (e.kind === 'device_online' && downSince !== null) {
      offlineMs += at - downSince;
      downSince = null;
    }
  }
  if (downSince !== null) offlineMs += to - downSince;
  return { offlineMs, spanMs: to - from };
}
