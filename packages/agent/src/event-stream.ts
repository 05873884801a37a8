import { AgentEvent } from '@p2pvps/protocol/agent-schemas';
import { agentEventsPath } from '@p2pvps/protocol/routes';
import type { ApiError } from '@p2pvps/protocol/client';
import { Backoff } from './backoff.ts';
import { errorFromResponse } from './server-refusals.ts';

/** Longest event block the agent holds: a server (or whatever answers for it) cannot make it buffer more. */
const maxBlockBytes = 64 * 1024;

export interface EventStreamOptions {
  serverUrl: string;
  sign: (method: string, path: string, body: string) => string;
  onEvent: (event: AgentEvent) => void;
  /**
   * The server refused the stream (any 4xx/5xx), as an error like ApiClient's: the agent
   * decides what it means (server-refusals.ts); a 401 alone means nothing.
   */
  onRefused: (err: ApiError) => void;
  log: (level: 'info' | 'warn' | 'debug', msg: string) => void;
  /** The API to stream from now (a cluster's current node, server-nodes.ts); serverUrl by default. */
  currentUrl?: () => string;
  /** Nobody answered at `url`: the agent moves to another node. */
  unreachable?: (url: string) => void;
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
      const base = this.o.currentUrl?.() ?? this.o.serverUrl;
      let answered = false;
      try {
        const res = await fetch(base.replace(/\/+$/, '') + agentEventsPath, {
          headers: { authorization: this.o.sign('GET', agentEventsPath, ''), accept: 'text/event-stream' },
          signal: this.abort.signal,
        });
        answered = true;
        if (res.ok && res.body) {
          this.backoff.reset();
          await this.read(res.body);
        } else {
          const err = errorFromResponse(res.status, await readAtMost(res, maxBlockBytes));
          this.o.log('warn', `event stream refused: HTTP ${res.status} [${err.code}] ${err.message}`);
          this.o.onRefused(err);
        }
      } catch (err) {
        if (this.closed) return;
        this.o.log('debug', `event stream: ${(err as Error).message}`);
        // Not even an answer: that node is gone (a stream that broke after it began is just tried again).
        if (!answered) this.o.unreachable?.(base);
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
      if (buffer.length > maxBlockBytes && buffer.indexOf('\n\n') === -1)
        throw new Error(`an event longer than ${maxBlockBytes} bytes; reconnecting`);
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
        let json: unknown;
        try {
          json = JSON.parse(data);
        } catch {
          continue;
        }
        const parsed = AgentEvent.safeParse(json);
        if (parsed.success) this.o.onEvent(parsed.data);
      }
    }
  }

  close(): void {
    this.closed = true;
    this.abort.abort();
  }
}

/** The start of a response body, and no more: an error page may be of any size. */
async function readAtMost(res: Response, max: number): Promise<string> {
  if (!res.body) return '';
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of res.body) {
    text += decoder.decode(chunk, { stream: true });
    if (text.length >= max) break;
  }
  return text.slice(0, max);
}
