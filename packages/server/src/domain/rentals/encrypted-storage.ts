import type { DesiredRental, HeartbeatBody } from '@p2pvps/protocol/agent-schemas';
import type { RentalState } from '@p2pvps/protocol/schemas';
import { findRental, type RentalRow } from '../../db/rentals-repo.ts';
import { updateDevice } from '../../db/devices-repo.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { runningStates } from './rental-state.ts';

/**
 * Renter-held encryption on the server's side (docs/encryption.md). The server learns only
 * that a rental is encrypted and whether its device has it locked; the renter's secret
 * passes through memory (StorageSecrets) on its way to the device and is dropped as soon as
 * the device says the storage is unlocked.
 *
 * Billing while locked: the meter runs on, as for any rental whose device is up. The device
 * is held for the renter and nobody but the renter can unlock it; the minutes the device was
 * down (the reboot itself) are not billed, as always.
 */

/** Holds the secret of a new encrypted rental for its device; refused when the server keeps no such memory. */
export function holdSecretAtRent(ctx: DomainContext, rentalId: string, secret: string): void {
  if (!ctx.storageSecrets) throw new DomainError('invalid_request', 'This server does not offer encrypted storage.');
  ctx.storageSecrets.put(rentalId, secret);
}

/** The renter sends the secret again after the device restarted: held for the device, which is told at once. */
export async function unlockRental(ctx: DomainContext, renterId: string, rentalId: string, secret: string): Promise<RentalRow> {
  const row = await findRental(ctx.db, rentalId);
  if (!row || row.renter_id !== renterId) throw new DomainError('not_found');
  if (!runningStates.includes(row.state as RentalState)) throw new DomainError('rental_not_open');
  if (!row.encrypted) throw new DomainError('rental_not_encrypted');
  holdSecretAtRent(ctx, rentalId, secret);
  ctx.notifyDevice(row.device_id, 'storage_unlock');
  return row;
}

/** What the agent is told of an encrypted rental: that it is, and the secret while the server holds it. */
export function desiredEncryption(ctx: DomainContext, rental: RentalRow): Pick<DesiredRental, 'encryption'> {
  if (!rental.encrypted) return {};
  const key = ctx.storageSecrets?.deliver(rental.id);
  return { encryption: key === undefined ? {} : { key } };
}

/**
 * The agent's word on the storage lock: the owner's and renter's views show "locked" with
 * why; once unlocked (or refused as the wrong secret) the held secret is dropped. Returns
 * whether what they see changed.
 */
export async function applyStorageLock(
  ctx: DomainContext,
  deviceId: string,
  before: string | null | undefined,
  lock: HeartbeatBody['storageLock'],
): Promise<boolean> {
  if (lock === undefined) return false;
  const locked = lock?.locked ? (lock.detail ?? 'The storage is locked: it waits for the renter’s key (p2pvps unlock).') : null;
  if (lock && !lock.locked) ctx.storageSecrets?.drop(lock.rentalId);
  else if (lock?.detail) ctx.storageSecrets?.refused(lock.rentalId);
  if (locked === (before ?? null)) return false;
  await updateDevice(ctx.db, deviceId, { storage_locked: locked });
  return true;
}
