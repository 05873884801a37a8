import { EventEmitter } from 'node:events';
import type { AgentEvent } from '@p2pvps/protocol/agent-schemas';

/**
 * In-process fan-out of "sync now" nudges to connected agents' event streams. A nudge
 * carries no state: the agent fetches the truth with a heartbeat, so a lost nudge costs
 * at most one heartbeat interval.
 */
export class DeviceEvents {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  subscribe(deviceId: string, listener: (event: AgentEvent) => void): () => void {
    this.emitter.on(deviceId, listener);
    return () => this.emitter.off(deviceId, listener);
  }

  notify(deviceId: string, reason: string): void {
    this.emitter.emit(deviceId, { type: 'sync', reason } satisfies AgentEvent);
  }

  listenerCount(deviceId: string): number {
    return this.emitter.listenerCount(deviceId);
  }
}
