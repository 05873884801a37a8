import { sql } from 'kysely';
import { updateFromValues, type Db } from './database.ts';
import type { DeviceIncidentsTable, DeviceReliabilityDaysTable, MaintenanceWindowsTable } from './schema.ts';

export type ReliabilityDayRow = DeviceReliabilityDaysTable;
export type MaintenanceWindowRow = MaintenanceWindowsTable;

/**
 * Adds `elapsedMs` to today's figures of every device expected online now (enrolled, not
 * removed, and on the market with a price, or rented): to its online time if its tunnel is
 * up, else to its maintenance time if it is not rented and inside a declared window. One
 * set-based statement, however many devices.
 */
export async function sampleAvailability(db: Db, now: string, day: string, elapsedMs: number): Promise<void> {
  const rented = sql<boolean>`exists (select 1 from rentals where rentals.open_device_id = devices.id and rentals.state in ('requested', 'active'))`;
  const inWindow = sql<boolean>`exists (select 1 from maintenance_windows where maintenance_windows.device_id = devices.id
    and maintenance_windows.cancelled_at is null and maintenance_windows.starts_at <= ${now} and maintenance_windows.ends_at > ${now})`;
  await db
    .insertInto('device_reliability_days')
    .columns(['device_id', 'day', 'expected_ms', 'online_ms', 'maintenance_ms', 'failed_starts', 'lost_rentals'])
    .expression((eb) =>
      eb
        .selectFrom('devices')
        .select([
          'devices.id',
          sql<string>`${day}`.as('day'),
          sql<number>`${elapsedMs}`.as('expected_ms'),
          sql<number>`case when devices.online = 1 then ${elapsedMs} else 0 end`.as('online_ms'),
          sql<number>`case when devices.online = 0 and not ${rented} and ${inWindow} then ${elapsedMs} else 0 end`.as('maintenance_ms'),
          sql<number>`0`.as('failed_starts'),
          sql<number>`0`.as('lost_rentals'),
        ])
        .where('devices.removed_at', 'is', null)
        .where('devices.public_key', 'is not', null)
        .where(sql<boolean>`(devices.on_market = 1 and devices.price_per_hour_micros is not null) or ${rented}`),
    )
    .onConflict((oc) =>
      oc.columns(['device_id', 'day']).doUpdateSet({
        expected_ms: sql`device_reliability_days.expected_ms + excluded.expected_ms`,
        online_ms: sql`device_reliability_days.online_ms + excluded.online_ms`,
        maintenance_ms: sql`device_reliability_days.maintenance_ms + excluded.maintenance_ms`,
      }),
    )
    .execute();
}

/** Records a failed container start or a lost rental, and counts it in the device's day, in the caller's transaction. */
export async function recordIncident(db: Db, incident: DeviceIncidentsTable, day: string): Promise<void> {
  await db.insertInto('device_incidents').values(incident).execute();
  const column = incident.kind === 'failed_start' ? 'failed_starts' : 'lost_rentals';
  await db
    .insertInto('device_reliability_days')
    .values({
      device_id: incident.device_id,
      day,
      expected_ms: 0,
      online_ms: 0,
      maintenance_ms: 0,
      failed_starts: column === 'failed_starts' ? 1 : 0,
      lost_rentals: column === 'lost_rentals' ? 1 : 0,
    })
    .onConflict((oc) => oc.columns(['device_id', 'day']).doUpdateSet({ [column]: sql`device_reliability_days.${sql.ref(column)} + 1` }))
    .execute();
}

/** Every device's days from `fromDay` on (the score's window): at most 30 rows per device. */
export function listReliabilityDays(db: Db, fromDay: string, deviceId?: string): Promise<ReliabilityDayRow[]> {
  let q = db.selectFrom('device_reliability_days').selectAll().where('day', '>=', fromDay);
  if (deviceId !== undefined) q = q.where('device_id', '=', deviceId);
  return q.orderBy('device_id').orderBy('day').execute();
}

/** Days before `day` are past every window: dropped. */
export function deleteReliabilityDaysBefore(db: Db, day: string): Promise<unknown> {
  return db.deleteFrom('device_reliability_days').where('day', '<', day).execute();
}

/** Writes the scores (device ID → percent, or null while new); devices left out lose theirs. */
export async function saveReliabilityScores(db: Db, scores: readonly (readonly [string, number | null])[]): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.updateTable('devices').set({ reliability_percent: null }).where('reliability_percent', 'is not', null).execute();
    await updateFromValues(trx, {
      table: 'devices',
      key: 'id',
      types: ['text', 'real'],
      set: sql`reliability_percent = v.column2`,
      rows: scores.filter(([, p]) => p !== null),
    });
  });
}

export function insertMaintenanceWindow(db: Db, row: MaintenanceWindowRow): Promise<unknown> {
  return db.insertInto('maintenance_windows').values(row).execute();
}

/** A device's windows that have not ended nor been cancelled, soonest first. */
export function listOpenMaintenanceWindows(db: Db, deviceId: string, now: string): Promise<MaintenanceWindowRow[]> {
  return db
    .selectFrom('maintenance_windows')
    .selectAll()
    .where('device_id', '=', deviceId)
    .where('cancelled_at', 'is', null)
    .where('ends_at', '>', now)
    .orderBy('starts_at')
    .execute();
}

/** Cancels a window that has not started, or ends one in progress now; false when it had already ended. */
export async function cancelMaintenanceWindow(db: Db, deviceId: string, windowId: string, now: string): Promise<boolean> {
  const open = db
    .updateTable('maintenance_windows')
    .where('id', '=', windowId)
    .where('device_id', '=', deviceId)
    .where('cancelled_at', 'is', null)
    .where('ends_at', '>', now);
  const notStarted = await open.set({ cancelled_at: now }).where('starts_at', '>', now).executeTakeFirst();
  if (Number(notStarted.numUpdatedRows) > 0) return true;
  const running = await open.set({ ends_at: now }).executeTakeFirst();
  return Number(running.numUpdatedRows) > 0;
}
