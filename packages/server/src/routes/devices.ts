import { routes } from '@p2pvps/protocol/routes';
import type { FastifyInstance } from 'fastify';
import type { DomainContext } from '../domain/context.ts';
import { addDevice, getDevice, listDevices, reissueEnrolmentToken, removeDevice, updateDevice } from '../domain/devices/devices.ts';
import { mount, type Authenticator } from './register.ts';

export function deviceRoutes(app: FastifyInstance, auth: Authenticator, ctx: DomainContext): void {
  const owner = (c: { user?: { user: { id: string } } }) => c.user!.user.id;
  mount(app, auth, routes.listDevices, async (_, c) => ({ devices: await listDevices(ctx, owner(c)) }));
  mount(app, auth, routes.addDevice, ({ body }, c) => addDevice(ctx, owner(c), body.name, body.description));
  mount(app, auth, routes.getDevice, ({ params }, c) => getDevice(ctx, owner(c), params.deviceId));
  mount(app, auth, routes.updateDevice, ({ params, body }, c) => updateDevice(ctx, owner(c), params.deviceId, body));
  mount(app, auth, routes.removeDevice, async ({ params }, c) => {
    await removeDevice(ctx, owner(c), params.deviceId);
    return { ok: true as const };
  });
  mount(app, auth, routes.reissueEnrolmentToken, ({ params }, c) => reissueEnrolmentToken(ctx, owner(c), params.deviceId));
}
