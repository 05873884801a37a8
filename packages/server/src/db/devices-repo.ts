import type { MarketQuery } from '@p2pvps/protocol/schemas';
import type { Db } from './database.ts';
import type { DevicesTable, EnrolmentTokensTable } from './schema.ts';

export type DeviceRow = DevicesTable;

export function insertDevice(db: Db, device: DeviceRow): Promise<unknown> {
  return db.insertInto('devices').values(device).execute();
}

/** Public SSH ports held by devices inside [lo, hi]. */
export async function usedPorts(db: Db, [lo, hi]: readonly [number, number]): Promise<Set<number>> {
  const rows = await db.selectFrom('devices').select('ssh_port').where('ssh_port', '>=', lo).where('ssh_port', '<=', hi).execute();
  return new Set(rows.map((r) => Number(r.ssh_port)));
}

export function findDevice(db: Db, id: string): Promise<DeviceRow | undefined> {
  return db.selectFrom('devices').selectAll().where('id', '=', id).where('removed_at', 'is', null).executeTakeFirst();
}

/** The device with this web name, unless it has been removed. */
export function findDeviceByWebName(db: Db, webName: string): Promise<DeviceRow | undefined> {
  return db.selectFrom('devices').selectAll().where('web_name', '=', webName).where('removed_at', 'is', null).executeTakeFirst();
}

/** Adds to a rental's byte counters. */
export function addRentalTraffic(db: Db, rentalId: string, bytesIn: number, bytesOut: number): Promise<unknown> {
  return db
    .updateTable('rentals')
    .set((eb) => ({ bytes_in: eb('bytes_in', '+', bytesIn), bytes_out: eb('bytes_out', '+', bytesOut) }))
    .where('id', '=', rentalId)
    .execute();
}

export function listOwnerDevices(db: Db, ownerId: string): Promise<DeviceRow[]> {
  return db
    .selectFrom('devices')
    .selectAll()
    .where('owner_id', '=', ownerId)
    .where('removed_at', 'is', null)
    .orderBy('created_at')
    .execute();
}

export function listEnrolledDevices(db: Db): Promise<Pick<DeviceRow, 'id' | 'public_key' | 'ssh_port'>[]> {
  return db
    .selectFrom('devices')
    .select(['id', 'public_key', 'ssh_port'])
    .where('removed_at', 'is', null)
    .where('public_key', 'is not', null)
    .execute();
}

export function updateDevice(db: Db, id: string, changes: Partial<DeviceRow>): Promise<unknown> {
  return db.updateTable('devices').set(changes).where('id', '=', id).execute();
}

export function markAllOffline(db: Db): Promise<unknown> {
  return db.updateTable('devices').set({ online: 0 }).where('online', '=', 1).execute();
}

/** Listed = enrolled, online, priced, on the market, its storage working, and not held by an open rental. */
export function listMarket(db: Db, q: MarketQuery): Promise<DeviceRow[]> {
  let query = db
    .selectFrom('devices')
    .selectAll('devices')
    .where('devices.removed_at', 'is', null)
    .where('devices.online', '=', 1)
    .where('devices.on_market', '=', 1)
    .where('devices.price_per_hour_micros', 'is not', null)
    .where('devices.hardware', 'is not', null)
    .where('devices.storage_fault', 'is', null)
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('rentals').select('rentals.id').whereRef('rentals.open_device_id', '=', 'devices.id'))),
    );
  if (q.maxPriceMicros !== undefined) query = query.where('devices.price_per_hour_micros', '<=', q.maxPriceMicros);
  return query.execute();
}

export function insertEnrolmentToken(db: Db, token: EnrolmentTokensTable): Promise<unknown> {
  return db.insertInto('enrolment_tokens').values(token).execute();
}

export function findEnrolmentToken(db: Db, tokenHash: string): Promise<EnrolmentTokensTable | undefined> {
  return db.selectFrom('enrolment_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
}

/** Spends the token; false when someone else spent it first. */
export async function spendEnrolmentToken(db: Db, id: string, at: string): Promise<boolean> {
  const res = await db
    .updateTable('enrolment_tokens')
    .set({ spent_at: at })
    .where('id', '=', id)
    .where('spent_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Invalidates every unspent token of a device (a new one replaces them). */
export function revokeEnrolmentTokens(db: Db, deviceId: string, at: string): Promise<unknown> {
  return db.updateTable('enrolment_tokens').set({ spent_at: at }).where('device_id', '=', deviceId).where('spent_at', 'is', null).execute();
}
