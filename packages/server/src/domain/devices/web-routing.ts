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
  if (host === new URL(ctx.settings.publicUrl).hostname || ctx.settings.nodeHostNames?.includes(host)) return { kind: 'api' };
  const label = host.endsWith(`.${domain}`) ? host.slice(0, -domain.length - 1) : '';
  if (label === '' || label.includes('.')) return { kind: 'none', reason: 'unknown_name' };
  const device = await findDeviceByWebName(ctx.db, label);
  if (!device) return { kind: 'none', reason: 'unknown_name' };
  const rental = await findOpenRentalForDevice(ctx.db, device.id);
  if (!rental || rental.state !== 'active') return { kind: 'none', reason: 'no_rental' };
  return { kind: 'device', deviceId: device.id, rentalId: rental.id };
}

/**
 * Remembers where device names lead, so a visitor opening a connection per request costs
 * no database lookups. Only routes to a device are kept, briefly, and all are forgotten
 * whenever a rental starts or ends or a device is removed (`forget`), so a name never
 * leads to a container after its rental ended; a rental that just became active is seen
 * at once, since "no rental" answers are never kept.
 */
export class WebRouteCache {
  private readonly routes = new Map<string, { route: WebRoute; until: number }>();
  /** Bumped by forget(): a lookup that began before it must not store what it found. */
  private generation = 0;
  constructor(
    private readonly lookup: (host: string | null) => Promise<WebRoute>,
    private readonly ttlMs = 5_000,
    private readonly maxEntries = 10_000,
  ) {}

  async resolve(host: string | null): Promise<WebRoute> {
    const hit = host === null ? undefined : this.routes.get(host);
    if (hit && hit.until > Date.now()) return hit.route;
    const generation = this.generation;
    const route = await this.lookup(host);
    if (host !== null && route.kind === 'device' && generation === this.generation) {
      if (this.routes.size >= this.maxEntries) this.routes.clear();
      this.routes.set(host, { route, until: Date.now() + this.ttlMs });
    }
    return route;
  }

  forget(): void {
    this.generation++;
    this.routes.clear();
  }
}
