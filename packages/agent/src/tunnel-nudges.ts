import type { Readable } from 'node:stream';
import { AgentEvent } from '@p2pvps/protocol/agent-schemas';
import { maxNudgeBytes } from '@p2pvps/protocol/tunnel-ssh';

/**
 * Reads the server's nudges from the channel the gateway opens inside the tunnel (one JSON
 * line each; gateway/tunnel-nudges.ts on the server). A line that is not a nudge is skipped;
 * one longer than any nudge ends the channel, so the server cannot make the agent hold more.
 * The tunnel coming up already makes the agent sync, so nothing is missed while it was down.
 */
export function readNudges(channel: Readable & { close?(): void }, onNudge: (event: AgentEvent) => void): void {
  let buffer = '';
  channel.setEncoding('utf8');
  channel.on('data', (chunk: string) => {
    buffer += chunk;
    let end;
    while ((end = buffer.indexOf('\n')) !== -1) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      const event = parseNudge(line);
      if (event) onNudge(event);
    }
    if (buffer.length > maxNudgeBytes) {
      buffer = '';
      channel.close?.();
      channel.destroy();
    }
  });
  channel.on('error', () => channel.destroy());
}

function parseNudge(line: string): AgentEvent | null {
  try {
    const parsed = AgentEvent.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
