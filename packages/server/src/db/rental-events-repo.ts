import type { Db } from './database.ts';
import type { RentalEventsTable } from './schema.ts';

export type RentalEventRow = RentalEventsTable;

export function insertRentalEvent(db: Db, row: RentalEventRow): Promise<unknown> {
  return db.insertInto('rental_events').values(row).execute();
}

/** A rental's events in the order they happened (IDs sort by when they were written, for events in the same instant). */
export function listRentalEvents(db: Db, rentalId: string): Promise<RentalEventRow[]> {
  return db.selectFrom('rental_events').selectAll().where('rental_id', '=', rentalId).orderBy('at').orderBy('id').execute();
}
