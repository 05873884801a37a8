import type { AgentEvent, DesiredRental } from '@p2pvps/protocol/agent-schemas';
import type { EventBus } from './event-bus.ts';

/** "Sync now" nudges to connected agents' event streams, by device ID. */
export type DeviceEvents = EventBus<AgentEvent>;

/** Tells a device's agent to heartbeat at once (a rental started or ended), with a new rental itself if given. */
export function nudgeDevice(events: DeviceEvents, deviceId: string, reason: string, rental?: DesiredRental, at?: Date): void {
  events.publish(deviceId, { type: 'sync', reason, ...(rental ? { rental, at: (at ?? new Date()).toISOString() } : {}) });
}
