import { routes } from '@p2pvps/protocol/routes';
import type { FastifyInstance } from 'fastify';
import type { DomainContext } from '../domain/context.ts';
import { operatorDevices, operatorRentals, operatorUsers } from '../domain/operator/operator-lists.ts';
import type { PaymentRails } from '../payments/payment-rails.ts';
import { mount, type Authenticator } from './register.ts';

/** The operator's lists for the dashboard: accounts, devices, rentals, and the settings in force. */
export function adminRoutes(
  app: FastifyInstance,
  auth: Authenticator,
  ctx: DomainContext,
  o: { rails?: PaymentRails; mail: string },
): void {
  mount(app, auth, routes.adminUsers, ({ query }) => operatorUsers(ctx, query));
  mount(app, auth, routes.adminDevices, ({ query }) => operatorDevices(ctx, query));
  mount(app, auth, routes.adminRentals, () => operatorRentals(ctx));
  mount(app, auth, routes.adminSettings, async () => ({
    name: ctx.settings.serverName,
    publicUrl: ctx.settings.publicUrl,
    currency: ctx.settings.currency,
    feePercent: ctx.settings.feeBps / 100,
    rentMinimumHours: ctx.settings.rentMinimumHours,
    balanceGraceMinutes: ctx.settings.balanceGraceMs / 60_000,
    deviceLostGraceMinutes: ctx.settings.deviceLostGraceMs / 60_000,
    sshHost: ctx.settings.sshHost,
    sshPortRange: [...ctx.settings.sshPortRange] as [number, number],
    webDomain: ctx.settings.webDomain,
    rails: o.rails?.names() ?? ['operator'],
    mail: o.mail,
  }));
}
