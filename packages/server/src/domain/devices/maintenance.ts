import { maintenanceRules, type MaintenanceWindow } from '@p2pvps/protocol/reliability-schemas';
import { findDevice } from '../../db/devices-repo.ts';
import {
  cancelMaintenanceWindow,
  insertMaintenanceWindow,
  listOpenMaintenanceWindows,
  type MaintenanceWindowRow,
} from '../../db/reliability-repo.ts';
import { findOpenRentalForDevice } from '../../db/rentals-repo.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { newId } from '../secrets.ts';

/**
 * Maintenance windows an owner declares ahead for a device: downtime inside one counts a
 * quarter in the reliability score (reliability.ts), but only while the device is not
 * rented. A rental in progress is never affected: a window that could overlap an open
 * rental (one without a term, or whose term ends after the window starts) is refused, and
 * downtime during a rental that starts later counts in full.
 */

const present = (r: MaintenanceWindowRow): MaintenanceWindow => ({
  id: r.id,
  deviceId: r.device_id,
  startsAt: r.starts_at,
  endsAt: r.ends_at,
  createdAt: r.created_at,
});

async function ownedDevice(ctx: DomainContext, ownerId: string, deviceId: string) {
  const device = await findDevice(ctx.db, deviceId);
  if (!device || device.owner_id !== ownerId) throw new DomainError('not_found');
  return device;
}

const refused = (why: string) => new DomainError('maintenance_window_refused', `This maintenance window is refused: ${why}.`);

export async function declareMaintenance(
  ctx: DomainContext,
  ownerId: string,
  deviceId: string,
  input: { startsAt: string; minutes: number },
): Promise<MaintenanceWindow> {
  await ownedDevice(ctx, ownerId, deviceId);
  const now = ctx.clock.now();
  const starts = new Date(input.startsAt);
  const ends = new Date(starts.getTime() + input.minutes * 60_000);
  if (starts.getTime() - now.getTime() < maintenanceRules.minNoticeMs)
    throw refused('it must be declared at least 1 h before it starts, so renters can see it coming');
  if (starts.getTime() - now.getTime() > maintenanceRules.maxAheadMs) throw refused('it must start within 30 days');
  const open = await listOpenMaintenanceWindows(ctx.db, deviceId, now.toISOString());
  if (open.length >= maintenanceRules.maxUpcoming) throw refused(`the device already has ${open.length} windows ahead, the most allowed`);
  const clash = open.find((w) => new Date(w.starts_at) < ends && new Date(w.ends_at) > starts);
  if (clash) throw refused(`it overlaps the window from ${clash.starts_at} to ${clash.ends_at}`);
  const rental = await findOpenRentalForDevice(ctx.db, deviceId);
  if (rental && (rental.state === 'requested' || rental.state === 'active')) {
    const runsPast = rental.expires_at === null || new Date(rental.expires_at) > starts;
    if (runsPast) {
      throw new DomainError(
        'maintenance_overlaps_rental',
        rental.expires_at === null
          ? 'The device has a rental that runs until its renter stops it; declare maintenance once it has ended.'
          : `The device is rented until ${rental.expires_at}; declare maintenance that starts after that.`,
      );
    }
  }
  const row: MaintenanceWindowRow = {
    id: newId(),
    device_id: deviceId,
    starts_at: starts.toISOString(),
    ends_at: ends.toISOString(),
    created_at: now.toISOString(),
    cancelled_at: null,
  };
  await insertMaintenanceWindow(ctx.db, row);
  return present(row);
}

/** The device's windows that are ahead or in progress, soonest first. */
export async function listMaintenance(ctx: DomainContext, ownerId: string, deviceId: string): Promise<MaintenanceWindow[]> {
  await ownedDevice(ctx, ownerId, deviceId);
  return (await listOpenMaintenanceWindows(ctx.db, deviceId, ctx.clock.now().toISOString())).map(present);
}

/** Cancels a window ahead; one in progress ends now (the time it already ran keeps counting as maintenance). */
export async function cancelMaintenance(ctx: DomainContext, ownerId: string, deviceId: string, windowId: string): Promise<void> {
  await ownedDevice(ctx, ownerId, deviceId);
  if (!(await cancelMaintenanceWindow(ctx.db, deviceId, windowId, ctx.clock.now().toISOString()))) throw new DomainError('not_found');
}
