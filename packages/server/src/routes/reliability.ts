import { routes } from '@p2pvps/protocol/routes';
import type { FastifyInstance } from 'fastify';
import type { DomainContext } from '../domain/context.ts';
import { cancelMaintenance, declareMaintenance, listMaintenance } from '../domain/devices/maintenance.ts';
import { reliabilityHistory } from '../domain/devices/reliability-record.ts';
import { mount, type Authenticator } from './register.ts';

/** Reliability scores with their history, and owners' maintenance windows (docs/reliability.md). */
export function reliabilityRoutes(app: FastifyInstance, auth: Authenticator, ctx: DomainContext): void {
  const owner = (c: { user?: { user: { id: string } } }) => c.user!.user.id;
  mount(app, auth, routes.listingReliability, ({ params }) => reliabilityHistory(ctx, params.deviceId));
  mount(app, auth, routes.deviceReliability, ({ params }, c) => reliabilityHistory(ctx, params.deviceId, owner(c)));
  mount(app, auth, routes.listMaintenance, async ({ params }, c) => ({ windows: await listMaintenance(ctx, owner(c), params.deviceId) }));
  mount(app, auth, routes.declareMaintenance, ({ params, body }, c) => declareMaintenance(ctx, owner(c), params.deviceId, body));
  mount(app, auth, routes.cancelMaintenance, async ({ params }, c) => {
    await cancelMaintenance(ctx, owner(c), params.deviceId, params.windowId);
    return { ok: true as const };
  });
}
