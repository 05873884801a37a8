import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pg from 'pg';

/**
 * Events between server nodes through PostgreSQL's LISTEN/NOTIFY: the database every node
 * already has, so a cluster needs no message broker. It has the shape of the in-process
 * buses (events/event-bus.ts: device-events.ts, user-events.ts): `publish(topic, message)` reaches the
 * topic's subscribers on every node, this one included, exactly once.
 *
 * Like those buses it carries nudges, not state ("sync now", "fetch again"): a payload is a
 * topic (`device:ID`, `user:ID`) and a short message, far below NOTIFY's 8000 bytes, and a
 * lost one costs a heartbeat or a reload. Still, losing them is kept rare: the node's own
 * subscribers are told at once, without the round trip; what is published while the
 * connection is down waits (bounded) and goes out after the reconnect; and after every
 * reconnect `onReconnect` lets the node nudge everything it serves, since what other nodes
 * published meanwhile never arrived.
 */
export interface NotifyBusOptions {
  /** postgres://… of the cluster's database. */
  connectionString: string;
  /** The NOTIFY channel; every node of one cluster uses the same. */
  channel?: string;
  /** After a lost connection is back and listening again (not after the first connect). */
  onReconnect?: () => void;
  log?: (level: 'info' | 'warn', msg: string) => void;
  /** Reconnect backoff: the first wait and the longest (full jitter between half and all of it). */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /** Publishes kept while the connection is down; older ones are dropped past this. */
  maxPending?: number;
}

/** NOTIFY refuses payloads of 8000 bytes or more; ours are ids and a reason, so this is generous and safe. */
export const maxPayloadBytes = 7_900;

interface Wire {
  /** The publishing bus, so it skips its own notifications (it told its subscribers already). */
  n: string;
  t: string;
  m: string;
}

export class PgNotifyBus {
  /** Random per bus: a node that restarts is a new publisher, so nothing of its own is ever skipped wrongly. */
  readonly busId = randomBytes(8).toString('hex');
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  private readonly channel: string;
  private client: pg.Client | undefined;
  private listening = false;
  private closed = false;
  private connecting: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private everListened = false;
  private readonly pending: string[] = [];
  private readonly log: NonNullable<NotifyBusOptions['log']>;

  constructor(private readonly o: NotifyBusOptions) {
    this.channel = o.channel ?? 'p2pvps_events';
    this.log = o.log ?? (() => {});
  }

  /** Connects and listens; resolves once it listens (a node should not serve before it hears the others). */
  async start(): Promise<void> {
    await this.connect(true);
  }

  /** True while the connection is up and listening. */
  get up(): boolean {
    return this.listening;
  }

  subscribe(topic: string, listener: (message: string) => void): () => void {
    this.emitter.on(topic, listener);
    return () => this.emitter.off(topic, listener);
  }

  listenerCount(topic: string): number {
    return this.emitter.listenerCount(topic);
  }

  /** Topics with a subscriber on this node. */
  topics(): string[] {
    return this.emitter.eventNames().map(String);
  }

  /** Tells the topic's subscribers on every node. Never throws and never waits: a nudge is best effort. */
  publish(topic: string, message: string): void {
    const payload = JSON.stringify({ n: this.busId, t: topic, m: message } satisfies Wire);
    if (Buffer.byteLength(payload) > maxPayloadBytes)
      throw new Error(`an event of ${Buffer.byteLength(payload)} bytes: NOTIFY takes less than 8000; send ids, not data`);
    this.emitter.emit(topic, message);
    if (this.closed) return;
    if (!this.listening) return this.keep(payload);
    this.send(payload);
  }

  private send(payload: string): void {
    const client = this.client!;
    client.query('SELECT pg_notify($1, $2)', [this.channel, payload]).catch((err: Error) => {
      // The connection went while this was on the way: send it again after the reconnect.
      this.keep(payload);
      this.log('warn', `could not publish an event to the other nodes (${err.message}); it goes out after the reconnect`);
    });
  }

  private keep(payload: string): void {
    this.pending.push(payload);
    const max = this.o.maxPending ?? 1000;
    if (this.pending.length > max) this.pending.splice(0, this.pending.length - max);
  }

  private async connect(first: boolean): Promise<void> {
    if (this.closed) return;
    if (this.connecting) return this.connecting;
    this.connecting = (async () => {
      const client = new pg.Client({
        connectionString: this.o.connectionString,
        // A database host that vanished without a FIN is noticed by TCP keepalive, not never.
        keepAlive: true,
        keepAliveInitialDelayMillis: 10_000,
        application_name: `p2pvps-events-${this.busId}`,
      });
      client.on('notification', (msg) => this.received(msg.channel, msg.payload));
      // Either may come alone, or both; the first one schedules the reconnect.
      client.on('error', (err) => this.lost(client, err.message));
      client.on('end', () => this.lost(client, 'the connection ended'));
      this.client = client;
      try {
        await client.connect();
        await client.query(`LISTEN ${client.escapeIdentifier(this.channel)}`);
      } catch (err) {
        if (first) {
          // The caller hears of it; no reconnect behind its back.
          this.client = undefined;
          await client.end().catch(() => undefined);
          throw err;
        }
        this.lost(client, (err as Error).message);
        return;
      }
      if (this.closed) {
        await client.end().catch(() => undefined);
        return;
      }
      this.listening = true;
      this.attempt = 0;
      const reconnected = this.everListened;
      this.everListened = true;
      if (reconnected) this.log('info', `listening for the other nodes' events again on "${this.channel}"`);
      for (const payload of this.pending.splice(0)) this.send(payload);
      if (reconnected) this.o.onReconnect?.();
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private lost(client: pg.Client, why: string): void {
    if (client !== this.client || this.closed) return;
    this.client = undefined;
    this.listening = false;
    client.removeAllListeners('notification');
    void client.end().catch(() => undefined);
    const initial = this.o.reconnectInitialMs ?? 200;
    const ceiling = Math.min(this.o.reconnectMaxMs ?? 10_000, initial * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.log('warn', `lost the event connection to PostgreSQL (${why}); reconnecting in ${delay} ms`);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.connect(false), delay);
  }

  private received(channel: string, payload: string | undefined): void {
    if (channel !== this.channel || !payload) return;
    let wire: Wire;
    try {
      wire = JSON.parse(payload) as Wire;
    } catch {
      return; // someone else's NOTIFY on our channel: not ours to act on
    }
    if (typeof wire?.t !== 'string' || typeof wire.m !== 'string' || wire.n === this.busId) return;
    this.emitter.emit(wire.t, wire.m);
  }

  /** Stops listening; idempotent. Subscribers stay, and hear only this node's own publishes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.listening = false;
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
