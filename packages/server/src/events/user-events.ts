import type { Db } from '../db/database.ts';
import { findDeviceWatchers } from '../db/devices-repo.ts';
import type { EventBus } from './event-bus.ts';

/**
 * Live updates for the dashboard: when a device or its rental changes (online, offline,
 * rented, started, ended, wiped) the owner's and the renter's open pages are told, over
 * server-sent events, to fetch again. Like the agents' nudges these carry no state. Nothing
 * is looked up unless someone is listening.
 */
export class UserEvents {
  constructor(
    private readonly bus: EventBus<string>,
    private readonly db: Db,
  ) {}

  subscribe(userId: string, listener: (what: string) => void): () => void {
    return this.bus.subscribe(userId, listener);
  }

  /** Tells the device's owner and its current renter, if they have a page open. */
  deviceChanged(deviceId: string): void {
    if (!this.bus.hasListeners()) return;
    void findDeviceWatchers(this.db, deviceId)
      .then((row) => {
        if (row) for (const userId of [row.ownerId, row.renterId]) if (userId) this.bus.publish(userId, 'changed');
      })
      .catch(() => {}); // a missed nudge costs a page one refresh
  }
}
