import { EventEmitter } from 'node:events';

/**
 * Fan-out of small events by topic (a device's ID, a user's ID) to whoever holds a stream
 * open for it. Events are hints, never the only truth: a receiver fetches the truth when
 * nudged (an agent heartbeats, a page fetches again; a rent's nudge carries the rental only
 * to save the agent that round trip), so a lost event costs at most one poll. This is the
 * seam where a bus shared by several server nodes goes; `InProcessEventBus` serves one.
 */
export interface EventBus<E> {
  publish(topic: string, event: E): void;
  /** Calls `listener` with each event published to `topic` from now on; the returned function stops it. */
  subscribe(topic: string, listener: (event: E) => void): () => void;
  /** False only when no one listens to any topic, so a publisher may skip finding topics; a bus that cannot tell says true. */
  hasListeners(): boolean;
}

/** The bus of one server process. */
export class InProcessEventBus<E> implements EventBus<E> {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  publish(topic: string, event: E): void {
    this.emitter.emit(topic, event);
  }

  subscribe(topic: string, listener: (event: E) => void): () => void {
    this.emitter.on(topic, listener);
    return () => this.emitter.off(topic, listener);
  }

  hasListeners(): boolean {
    return this.emitter.eventNames().length > 0;
  }
}
