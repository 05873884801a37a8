import { routes } from '@p2pvps/protocol/routes';
import type { Rental, RentalFallback } from '@p2pvps/protocol/schemas';
import type { FastifyInstance } from 'fastify';
import type { DomainContext } from '../domain/context.ts';
import { extendRental, getRental, listRentals, market, rent, stopRental } from '../domain/rentals/rentals.ts';
import { mount, type Authenticator } from './register.ts';
import { unlockRental } from '../domain/rentals/encrypted-storage.ts';
import { listAppPackages } from '../domain/packages/app-packages.ts';

export function rentalRoutes(
  app: FastifyInstance,
  auth: Authenticator,
  ctx: DomainContext,
  /** The device's backup peers (federation/backup-home.ts): a running rental's addresses there. */
  backups?: { fallbacks(deviceId: string): Promise<RentalFallback[]> },
): void {
  const renter = (c: { user?: { user: { id: string } } }) => c.user!.user.id;
  const withFallbacks = async (r: Rental): Promise<Rental> => {
    if (!backups || (r.state !== 'active' && r.state !== 'requested')) return r;
    const fallbacks = await backups.fallbacks(r.deviceId);
    return fallbacks.length ? { ...r, fallbacks } : r;
  };
  mount(app, auth, routes.market, async ({ query }) => {
    const page = await market(ctx, query);
    return { listings: page.items, next: page.next };
  });
  mount(app, auth, routes.appPackages, async () => ({ packages: listAppPackages(ctx) }));
  mount(app, auth, routes.rent, ({ body }, c) => rent(ctx, renter(c), body));
  mount(app, auth, routes.listRentals, async ({ query }, c) => {
    const page = await listRentals(ctx, renter(c), query);
    return { rentals: await Promise.all(page.items.map(withFallbacks)), next: page.next };
  });
  mount(app, auth, routes.getRental, async ({ params }, c) => withFallbacks(await getRental(ctx, renter(c), params.rentalId)));
  mount(app, auth, routes.unlockRental, async ({ params, body }, c) => {
    await unlockRental(ctx, renter(c), params.rentalId, body.key);
    return getRental(ctx, renter(c), params.rentalId);
  });
  mount(app, auth, routes.stopRental, ({ params }, c) => stopRental(ctx, renter(c), params.rentalId));
  mount(app, auth, routes.extendRental, ({ params, body }, c) => extendRental(ctx, renter(c), params.rentalId, body));
}
