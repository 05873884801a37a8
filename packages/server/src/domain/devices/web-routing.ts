import { isIP } from 'node:net';
import { findDeviceByWebName } from '../../db/devices-repo.ts';
import { findOpenRentalForDevice } from '../../db/rentals-repo.ts';
import type { DomainContext } from '../context.ts';

/** Where a host name on the front doors leads. */
export type WebRoute =
  { kind: 'api' } | { kind: 'device'; deviceId: string; rentalId: string } | { kind: 'none'; reason: 'unknown_name' | 'no_rental' };

/**
 * Routes a host name: the server's own names (its public URL's host, the web domain
 * itself, and bare addresses) lead to the API; `NAME.web-domain` leads to that device
 * while it has an active rental; anything else leads nowhere, never to another site.
 */
export async function resolveWebName(ctx: DomainContext, host: string | null): Promise<WebRoute> {
  const domain = ctx.settings.webDomain;
  if (host === null || host === domain || host === 'localhost' || isIP(host.replace(/^\[|\]$/g, '')) !== 0) return { kind: 'api' };
  if (host === new URL(ctx.settings.publicUrl).hostname) return { kind: 'api' };
  const label = host.endsWith(`.${domain}`) ? host.slice(0, -domain.length - 1) : '';
  if (label === '' || label.includes('.')) return { kind: 'none', reason: 'unknown_name' };
  const device = await findDeviceByWebName(ctx.db, label);
  if (!device) return { kind: 'none', reason: 'unknown_name' };
  const rental = await findOpenRentalForDevice(ctx.db, device.id);
  if (!rental || rental.state !== 'active') return { kind: 'none', reason: 'no_rental' };
  return { kind: 'device', deviceId: device.id, rentalId: rental.id };
}
