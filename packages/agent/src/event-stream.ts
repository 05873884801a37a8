import { AgentEvent } from '@p2pvps/protocol/agent-schemas';
import { agentEventsPath } from '@p2pvps/protocol/routes';
import { Backoff } from './backoff.ts';

export interface EventStreamOptions {
  serverUrl: string;
  sign: (method: string, path: string, body: string) => string;
  onEvent: (event: AgentEvent) => void;
  onAuthFailure: () => void;
  log: (level: 'info' | 'warn' | 'debug', msg: string) => void;
}

/**
 * The server's "sync now" nudges, over server-sent events. Reconnects with backoff;
 * each (re)connect starts with a sync event, so nothing is missed while it was down.
 */
export class EventStream {
  private abort = new AbortController();
  private closed = false;
  private readonly backoff = new Backoff();

  constructor(private readonly o: EventStreamOptions) {}

  start(): void {
    void this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      try {
        const res = await fetch(this.o.serverUrl.replace(/\/+$/, '') + agentEventsPath, {
          headers: { authorization: this.o.sign('GET', agentEventsPath, ''), accept: 'text/event-stream' },
          signal: this.abort.signal,
        });
        if (res.status === 401) {
          this.o.onAuthFailure();
        } else if (res.ok && res.body) {
          this.backoff.reset();
          await this.read(res.body);
        } else {
          this.o.log('warn', `event stream refused: HTTP ${res.status}`);
        }
      } catch (err) {
        if (this.closed) return;
        this.o.log('debug', `event stream: ${(err as Error).message}`);
      }
      if (this.closed) return;
      await new Promise((r) => setTimeout(r, this.backoff.next()));
    }
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of body) {
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trim())
          .join('\n');
        if (!data) continue;
        const parsed = AgentEvent.safeParse(JSON.parse(data));
        if (parsed.success) this.o.onEvent(parsed.data);
      }
    }
  }

  close(): void {
    this.closed = true;
    this.abort.abort();
  }
}
