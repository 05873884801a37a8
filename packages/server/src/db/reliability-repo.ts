import { sql } from 'kysely';
import { updateFromValues, type Db } from './database.ts';
import type { DeviceIncidentsTable, DeviceReliabilityDaysTable, MaintenanceWindowsTable } from './schema.ts';
import { inTransaction } from './transactions.ts';

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

/** A device's days from `fromDay` on (the score's window): at most 30 rows. */
export function listReliabilityDays(db: Db, fromDay: string, deviceId: string): Promise<ReliabilityDayRow[]> {
  return db
    .selectFrom('device_reliability_days')
    .selectAll()
    .where('day', '>=', fromDay)
    .where('device_id', '=', deviceId)
    .orderBy('day')
    .execute();
}

/** Days before `day` are past every window: dropped. */
export function deleteReliabilityDaysBefore(db: Db, day: string): Promise<unknown> {
  return db.deleteFrom('device_reliability_days').where('day', '<', day).execute();
}

/** A device's figures summed over the window, its first day expected online in it, and the score its row holds now. */
export interface ReliabilityTotals {
  device_id: string;
  expected_ms: number;
  online_ms: number;
  maintenance_ms: number;
  failed_starts: number;
  lost_rentals: number;
  first_day: string | null;
  current: number | null;
}

/** Every device's totals from `fromDay` on: one grouped query over the day index, a row per device. */
export async function listReliabilityTotals(db: Db, fromDay: string): Promise<ReliabilityTotals[]> {
  const rows = await db
    .selectFrom('device_reliability_days as r')
    .innerJoin('devices', 'devices.id', 'r.device_id')
    .select((eb) => [
      'r.device_id',
      eb.fn.sum<number>('r.expected_ms').as('expected_ms'),
      eb.fn.sum<number>('r.online_ms').as('online_ms'),
      eb.fn.sum<number>('r.maintenance_ms').as('maintenance_ms'),
      eb.fn.sum<number>('r.failed_starts').as('failed_starts'),
      eb.fn.sum<number>('r.lost_rentals').as('lost_rentals'),
      sql<string | null>`min(case when r.expected_ms > 0 then r.day end)`.as('first_day'),
      eb.fn.max('devices.reliability_percent').as('current'),
    ])
    .where('r.day', '>=', fromDay)
    .groupBy('r.device_id')
    .execute();
  return rows.map((r) => ({
    device_id: r.device_id,
    expected_ms: Number(r.expected_ms),
    online_ms: Number(r.online_ms),
    maintenance_ms: Number(r.maintenance_ms),
    failed_starts: Number(r.failed_starts),
    lost_rentals: Number(r.lost_rentals),
    first_day: r.first_day,
    current: r.current === null ? null : Number(r.current),
  }));
}

/**
 * Writes the scores that changed (device ID → percent, or null while new), and clears the
 * score of devices with no day left in the window.
 */
export async function saveReliabilityScores(
  db: Db,
  changed: readonly (readonly [string, number | null])[],
  fromDay: string,
): Promise<void> {
  await inTransaction(db, async (trx) => {
    await trx
      .updateTable('devices')
      .set({ reliability_percent: null })
      .where('reliability_percent', 'is not', null)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('device_reliability_days')
              .select('device_reliability_days.device_id')
              .whereRef('device_reliability_days.device_id', '=', 'devices.id')
              .where('device_reliability_days.day', '>=', fromDay),
          ),
        ),
      )
      .execute();
    await updateFromValues(trx, {
      table: 'devices',
      key: 'id',
      // double precision: PostgreSQL's real is a single; on SQLite both are REAL.
      types: ['text', 'double precision'],
      set: sql`reliability_percent = v.column2`,
      rows: changed,
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
