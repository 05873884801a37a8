import type { AgentEvent } from '@p2pvps/protocol/agent-schemas';
import { isPostgresUrl } from '../db/postgres.ts';
import { InProcessEventBus, type EventBus } from '../events/event-bus.ts';
import { PgNotifyBus } from './pg-notify-bus.ts';

/**
 * The server's event buses. On SQLite (one node) they are this process's own. On
 * PostgreSQL, the database every node of a cluster shares, they go through its
 * LISTEN/NOTIFY (pg-notify-bus.ts), so a rental made through one node nudges the agent
 * whose tunnel is on another, a dashboard open on any node updates, and every node
 * hears that a device's rentals changed (its web routes and renters' ports follow). Each
 * subscriber hears each event once, its own node's included.
 */
export interface NodeEvents {
  /** Nudges to agents, by device ID. */
  devices: EventBus<AgentEvent>;
  /** Live updates for dashboards, by user ID. */
  users: EventBus<string>;
  /** A device's rental started or ended: every node's routes for it are stale (topic `devices`, message the device ID). */
  changes: EventBus<string>;
  close(): Promise<void>;
}

export async function nodeEvents(databaseUrl: string, log: (level: 'info' | 'warn', msg: string) => void): Promise<NodeEvents> {
  if (!isPostgresUrl(databaseUrl)) {
    return { devices: new InProcessEventBus(), users: new InProcessEventBus(), changes: new InProcessEventBus(), close: async () => {} };
  }
  const bus = new PgNotifyBus({
    connectionString: databaseUrl,
    log,
    // What other nodes sent while this one was cut off is lost: agents and pages catch up
    // at their next heartbeat or fetch, which a lost nudge only delays.
    onReconnect: () => log('info', 'listening to the other nodes again; nudges sent meanwhile were lost'),
  });
  await bus.start();
  return {
    devices: onTopics<AgentEvent>(bus, 'device:', JSON.stringify, (m) => JSON.parse(m) as AgentEvent),
    users: onTopics<string>(bus, 'user:', String, String),
    changes: onTopics<string>(bus, 'changed:', String, String),
    close: () => bus.close(),
  };
}

/** A bus of typed events under a topic prefix of the shared one. */
function onTopics<E>(bus: PgNotifyBus, prefix: string, encode: (e: E) => string, decode: (m: string) => E): EventBus<E> {
  return {
    publish: (topic, event) => bus.publish(prefix + topic, encode(event)),
    subscribe: (topic, listener) => bus.subscribe(prefix + topic, (m) => listener(decode(m))),
    // Listeners on other nodes cannot be seen from here.
    hasListeners: () => true,
  };
}
