import type { AdminListQuery, EndReason, RentalState } from '@p2pvps/protocol/schemas';
import { listUsersPage } from '../../db/accounts-repo.ts';
import { countDevicesByOwner, listDevicesPage } from '../../db/devices-repo.ts';
import { listUserBalances } from '../../db/ledger-repo.ts';
import { countOpenRentalsByRenter, listOpenRentalIds, listRentalsWithParties } from '../../db/rentals-repo.ts';
import type { DomainContext } from '../context.ts';
import { presentDevice } from '../devices/devices.ts';
import { decodeCursor, pageOf } from '../paging.ts';
import { presentRental } from '../rentals/rentals.ts';

// The operator's lists for the dashboard: accounts, devices and rentals, read across every user.

// Both paged lists are in the order the rows were made: keyset on (created_at, id).
const after = (cursor: string | undefined) => decodeCursor(cursor, ['string', 'string'] as const);

/** Every account with its balance, earnings, devices and open rentals, a page at a time. */
export async function operatorUsers(ctx: DomainContext, query: AdminListQuery) {
  const { db } = ctx;
  const page = pageOf(await listUsersPage(db, after(query.cursor), query.limit + 1), query.limit, (u) => [u.created_at, u.id]);
  const users = page.items;
  const ids = users.length ? users.map((u) => u.id) : [''];
  const balances = await listUserBalances(db, ids);
  const devices = await countDevicesByOwner(db, ids);
  const rentals = await countOpenRentalsByRenter(db, ids);
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
}

/** Every device that is not removed, with its owner, a page at a time. */
export async function operatorDevices(ctx: DomainContext, query: AdminListQuery) {
  const rows = await listDevicesPage(ctx.db, after(query.cursor), query.limit + 1);
  const page = pageOf(rows, query.limit, (r) => [r.created_at, r.id]);
  const ids = page.items.length ? page.items.map((r) => r.id) : [''];
  const open = await listOpenRentalIds(ctx.db, ids);
  return {
    devices: page.items.map((r) => ({
      ...presentDevice(ctx, r, open.find((o) => o.device_id === r.id)?.id ?? null),
      ownerEmail: r.owner_email,
    })),
    next: page.next,
  };
}

/** The newest 500 rentals, with renter and owner (no credentials). */
export async function operatorRentals(ctx: DomainContext) {
  const rows = await listRentalsWithParties(ctx.db, 500);
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
}
