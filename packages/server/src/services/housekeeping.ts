import type { DomainContext } from '../domain/context.ts';
import { reclaimUnenrolledDevices } from '../domain/devices/devices.ts';

/**
 * Rows nobody will use again, removed periodically so that they neither pile up nor hold
 * anything: devices that never enrolled before their token expired.
 */
export async function housekeep(ctx: DomainContext): Promise<{ devices: number }> {
  return { devices: await reclaimUnenrolledDevices(ctx) };
}
