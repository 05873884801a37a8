import { routes } from '@p2pvps/protocol/routes';
import type { EndReason, RentalState } from '@p2pvps/protocol/schemas';
import type { FastifyInstance } from 'fastify';
import { presentDevice } from '../domain/devices/devices.ts';
import type { DomainContext } from '../domain/context.ts';
import { decodeCursor, pageOf } from '../domain/paging.ts';
import { presentRental } from '../domain/rentals/rentals.ts';
import type { PaymentRails } from '../payments/payment-rails.ts';
import { mount, type Authenticator } from './register.ts';

/** The operator's lists for the dashboard: accounts, devices, rentals, and the settings in force. */
export function adminRoutes(
  app: FastifyInstance,
  auth: Authenticator,
  ctx: DomainContext,
  o: { rails?: PaymentRails; mail: string },
): void {
  const { db } = ctx;
  // Both lists are paged in the order the rows were made: keyset on (created_at, id).
  const after = (cursor: string | undefined) => decodeCursor(cursor, ['string', 'string'] as const);
  mount(app, auth, routes.adminUsers, async ({ query }) => {
    const from = after(query.cursor);
    let q = db.selectFrom('users').selectAll();
    if (from)
      q = q.where((eb) => eb.or([eb('created_at', '>', from[0]), eb.and([eb('created_at', '=', from[0]), eb('id', '>', from[1])])]));
    const page = pageOf(
      await q
        .orderBy('created_at')
        .orderBy('id')
        .limit(query.limit + 1)
        .execute(),
      query.limit,
      (u) => [u.created_at, u.id],
    );
    const users = page.items;
    const ids = users.length ? users.map((u) => u.id) : [''];
    const balances = await db.selectFrom('ledger_accounts').select(['user_id', 'kind', 'balance']).where('user_id', 'in', ids).execute();
    const devices = await db
      .selectFrom('devices')
      .select('owner_id')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('removed_at', 'is', null)
      .where('owner_id', 'in', ids)
      .groupBy('owner_id')
      .execute();
    const rentals = await db
      .selectFrom('rentals')
      .select('renter_id')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('state', 'in', ['requested', 'active', 'ending'])
      .where('renter_id', 'in', ids)
      .groupBy('renter_id')
      .execute();
    const sum = (userId: string, kind: string) =>
      Number(balances.filter((b) => b.user_id === userId && b.kind === kind).reduce((s, b) => s + BigInt(b.balance), 0n));
    return {
      users: users.map((u) => ({
        id: u.id,
        email: u.email,
        isAdmin: u.is_admin === 1,
        createdAt: u.created_at,
        balanceMicros: sum(u.id, 'renter_balance'),
        earningsMicros: sum(u.id, 'owner_earnings'),
        devices: Number(devices.find((d) => d.owner_id === u.id)?.n ?? 0),
        openRentals: Number(rentals.find((r) => r.renter_id === u.id)?.n ?? 0),
      })),
      next: page.next,
    };
  });
  mount(app, auth, routes.adminDevices, async ({ query }) => {
    const from = after(query.cursor);
    let q = db
      .selectFrom('devices')
      .innerJoin('users', 'users.id', 'devices.owner_id')
      .selectAll('devices')
      .select('users.email as owner_email')
      .where('devices.removed_at', 'is', null);
    if (from)
      q = q.where((eb) =>
        eb.or([eb('devices.created_at', '>', from[0]), eb.and([eb('devices.created_at', '=', from[0]), eb('devices.id', '>', from[1])])]),
      );
    const rows = await q
      .orderBy('devices.created_at')
      .orderBy('devices.id')
      .limit(query.limit + 1)
      .execute();
    const page = pageOf(rows, query.limit, (r) => [r.created_at, r.id]);
    const ids = page.items.length ? page.items.map((r) => r.id) : [''];
    const open = await db.selectFrom('rentals').select(['id', 'device_id']).where('open_device_id', 'in', ids).execute();
    return {
      devices: page.items.map((r) => ({
        ...presentDevice(ctx, r, open.find((o) => o.device_id === r.id)?.id ?? null),
        ownerEmail: r.owner_email,
      })),
      next: page.next,
    };
  });
  mount(app, auth, routes.adminRentals, async () => {
    const rows = await db
      .selectFrom('rentals')
      .innerJoin('users as renter', 'renter.id', 'rentals.renter_id')
      .innerJoin('devices', 'devices.id', 'rentals.device_id')
      .innerJoin('users as owner', 'owner.id', 'devices.owner_id')
      .selectAll('rentals')
      .select(['renter.email as renter_email', 'owner.email as owner_email', 'devices.ssh_port', 'devices.web_name'])
      .orderBy('rentals.created_at', 'desc')
      .orderBy('rentals.id')
      .limit(500)
      .execute();
    return {
      rentals: rows.map((r) => {
        const { connection: _, ...rental } = presentRental(ctx, r, { ssh_port: r.ssh_port, web_name: r.web_name });
        return {
          ...rental,
          state: rental.state as RentalState,
          endReason: rental.endReason as EndReason | null,
          renterEmail: r.renter_email,
          ownerEmail: r.owner_email,
        };
      }),
    };
  });
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
