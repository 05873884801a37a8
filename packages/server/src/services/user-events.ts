import { EventEmitter } from 'node:events';
import type { Db } from '../db/database.ts';

/**
 * Live updates for the dashboard: when a device or its rental changes (online, offline,
 * rented, started, ended, wiped) the owner's and the renter's open pages are told, over
 * server-sent events, to fetch again. Like the agents' nudges these carry no state. Nothing
 * is looked up unless someone is listening.
 */
export class UserEvents {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  constructor(private readonly db: Db) {}

  subscribe(userId: string, listener: (what: string) => void): () => void {
    this.emitter.on(userId, listener);
    return () => this.emitter.off(userId, listener);
  }

  /** Tells the device's owner and its current renter, if they have a page open. */
  deviceChanged(deviceId: string): void {
    if (this.emitter.eventNames().length === 0) return;
    void this.db
      .selectFrom('devices')
      .leftJoin('rentals', (join) => join.onRef('rentals.open_device_id', '=', 'devices.id'))
      .select(['devices.owner_id as ownerId', 'rentals.renter_id as renterId'])
      .where('devices.id', '=', deviceId)
      .executeTakeFirst()
      .then((row) => {
        if (row) for (const userId of [row.ownerId, row.renterId]) if (userId) this.emitter.emit(userId, 'changed');
      })
      .catch(() => {}); // a missed nudge costs a page one refresh
  }
}
