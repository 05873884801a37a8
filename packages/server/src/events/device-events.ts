import type { AgentEvent } from '@p2pvps/protocol/agent-schemas';
import type { EventBus } from './event-bus.ts';

/** "Sync now" nudges to connected agents' event streams, by device ID. */
export type DeviceEvents = EventBus<AgentEvent>;

/** Tells a device's agent to heartbeat at once (a rental started or ended). */
export function nudgeDevice(events: DeviceEvents, deviceId: string, reason: string): void {
  events.publish(deviceId, { type: 'sync', reason });
}
