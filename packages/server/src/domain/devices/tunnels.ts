import { findDevice, recordTunnel } from '../../db/devices-repo.ts';
import { findOpenRentalForDevice } from '../../db/rentals-repo.ts';
import type { DomainContext } from '../context.ts';
import { settleRental } from '../money/metering.ts';
import { recordDeviceTunnel } from '../rentals/rental-log.ts';

/**
 * What the tunnel gateway asks of a device on every login, request and public connection:
 * its key and port, whether its public SSH port is open, and the rental its visitors'
 * bytes count against. Null when it is unknown, removed or not enrolled.
 */
export async function tunnelPolicy(
  ctx: DomainContext,
  deviceId: string,
  /** nodesListen: in a cluster every node listens on renters' ports itself (cluster/rental-ports.ts), so the gateway opens none. */
  o: { nodesListen?: boolean } = {},
) {
  const d = await findDevice(ctx.db, deviceId);
  if (!d?.public_key || !d.ssh_port) return null;
  // The public SSH port listens only while a renter may log in: an idle device costs no socket.
  const rental = await findOpenRentalForDevice(ctx.db, deviceId);
  const publicPortOpen = !o.nodesListen && (rental?.state === 'requested' || rental?.state === 'active');
  return { deviceId: d.id, publicKey: d.public_key, sshPort: Number(d.ssh_port), publicPortOpen, rentalId: rental?.id ?? null };
}

/**
 * Bills a device's active rental up to now as its tunnel comes up or goes down: the meter
 * runs only while the device is connected, so going down bills up to now (`wasOnline`) and
 * coming back skips the time it was away.
 */
export async function settleDeviceRental(ctx: DomainContext, deviceId: string, wasOnline: boolean): Promise<bigint> {
  const rental = await findOpenRentalForDevice(ctx.db, deviceId);
  return rental?.state === 'active' ? settleRental(ctx, rental.id, wasOnline) : 0n;
}

/** Records a device's tunnel going up or down, on the device and in its open rental's log (rental-log.ts: the operator's facts when its renter disputes it). */
export async function recordDeviceOnline(ctx: DomainContext, deviceId: string, online: boolean): Promise<void> {
  await recordTunnel(ctx.db, deviceId, online, ctx.clock.now().toISOString());
  await recordDeviceTunnel(ctx.db, deviceId, online, ctx.clock.now().toISOString());
}
