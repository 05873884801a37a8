import type { AgentEvent } from '@p2pvps/protocol/agent-schemas';
import { maxNudgeBytes, tunnelNudgeOrigin } from '@p2pvps/protocol/tunnel-ssh';
import type { Connection } from 'ssh2';

/** Where a device's nudges come from: the server's event bus for devices (events/device-events.ts). */
export interface NudgeSource {
  subscribe(deviceId: string, listener: (event: AgentEvent) => void): () => void;
}

/**
 * Unread nudges a channel may hold before it is closed: a device that does not read them is
 * not helped by more (it still syncs at its heartbeats), and the server keeps no more of it.
 */
const maxUnreadBytes = 64 * 1024;

/**
 * Opens the nudge channel on the device connection that now carries its tunnel and writes
 * each of the device's nudges into it as one JSON line, for as long as both last. The nudges
 * ride the tunnel, so a device holds one connection to the server. A device that refuses the
 * channel still learns of its rentals at its heartbeats.
 */
export function openNudgeChannel(
  client: Connection,
  forward: { bindAddr: string; bindPort: number },
  deviceId: string,
  source: NudgeSource,
  log: { info(obj: object, msg?: string): void },
): void {
  client.forwardOut(forward.bindAddr, forward.bindPort, tunnelNudgeOrigin, 0, (err, channel) => {
    if (err) return log.info({ deviceId }, 'the device took no nudge channel; it learns of rentals at its heartbeats');
    const unsubscribe = source.subscribe(deviceId, (event) => {
      const line = `${JSON.stringify(event)}\n`;
      if (Buffer.byteLength(line) > maxNudgeBytes) return log.info({ deviceId, reason: event.reason }, 'nudge too long to send');
      if (channel.writableLength > maxUnreadBytes) return void channel.close();
      channel.write(line);
    });
    channel.once('close', unsubscribe);
    client.once('close', unsubscribe);
    channel.on('error', () => channel.close());
    // The agent sends nothing here; reading whatever comes keeps the channel's window open.
    channel.resume();
  });
}
