import type { DomainContext } from '../domain/context.ts';
import { purgeDeadSessions } from '../domain/accounts/sessions.ts';
import { reclaimUnenrolledDevices } from '../domain/devices/devices.ts';

/**
 * Rows nobody will use again, removed periodically so that they neither pile up nor hold
 * anything: devices that never enrolled before their token expired, and browser sessions
 * that ended (past their 30 days, or unused for a week).
 */
export async function housekeep(ctx: DomainContext): Promise<{ devices: number; sessions: number }> {
  return { devices: await reclaimUnenrolledDevices(ctx), sessions: await purgeDeadSessions(ctx) };
}
