import type { Db } from '../db/database.ts';
import { findServerKey, insertServerKeyIfAbsent, replaceServerKey } from '../db/federation-key-repo.ts';
import type { Clock } from '../domain/clock.ts';
import type { EventBus } from '../events/event-bus.ts';
import type { SecretBox } from '../secret-box.ts';
import type { ServerIdentity } from './server-key.ts';

/** Sealed under this context, so the sealed key opens nowhere else in the database. */
const sealContext = 'federation-server-key';
/** The topic on the node events' `changes` bus: the key's row changed, every node reloads it. */
export const keyChangedTopic = 'federation-key';
/**
 * A node that missed the announcement still finds the new key within this: its PostgreSQL
 * bus was cut off, or the nodes share a SQLite file, whose buses are each process's own.
 */
const defaultRecheckMs = 30_000;

/**
 * The server's signing key, the same on every node of a cluster: the database holds it
 * (sealed with the secret box, which the nodes share), and a rotation on any node is
 * announced on the node events bus, so every node signs with the new key at once, not at
 * its next restart. Each node's data dir keeps a copy (server-key.ts), written as it adopts
 * a key; the first node to start stores its key, the others adopt that one.
 */
export class SharedServerKey {
  private version = 0;
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly o: {
      db: Db;
      clock: Clock;
      secretBox: SecretBox;
      identity: ServerIdentity;
      /** The node events' `changes` bus (cluster/node-events.ts). */
      bus: EventBus<string>;
      log: { warn(fields: object, message: string): void };
      recheckEveryMs?: number;
    },
  ) {}

  /** Stores this node's key if none is stored yet, adopts the stored one, and listens for rotations. */
  async start(): Promise<void> {
    const sealed = this.o.secretBox.seal(this.o.identity.serialized(), sealContext);
    await insertServerKeyIfAbsent(this.o.db, sealed, this.o.clock.now().toISOString());
    await this.reload();
    const reload = () => void this.reload().catch((err) => this.o.log.warn({ err }, 'could not reload the federation key'));
    this.unsubscribe = this.o.bus.subscribe(keyChangedTopic, reload);
    this.timer = setInterval(reload, this.o.recheckEveryMs ?? defaultRecheckMs);
    this.timer.unref();
  }

  /** A new key signed by the current one, stored for every node; a rotation another node made meanwhile is rotated from. */
  async rotate(): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt++) {
      await this.reload();
      const from = this.version;
      const next = this.o.identity.rotation();
      const sealed = this.o.secretBox.seal(next, sealContext);
      if (await replaceServerKey(this.o.db, from, sealed, this.o.clock.now().toISOString())) {
        // A reload that ran meanwhile may have adopted this very row already.
        if (this.version <= from) {
          this.version = from + 1;
          this.o.identity.adopt(next);
        }
        this.o.bus.publish(keyChangedTopic, String(from + 1));
        return;
      }
    }
    throw new Error('the federation key kept changing under this rotation; try again');
  }

  /** Adopts the stored key when it is newer than the one this node holds (no await between the check and the adoption). */
  async reload(): Promise<void> {
    const row = await findServerKey(this.o.db);
    if (!row || row.version <= this.version) return;
    let stored: string;
    try {
      stored = this.o.secretBox.open(row.sealed_key, sealContext);
    } catch {
      throw new Error(
        "the federation key in the database does not open with this node's secret-box.key: copy the first node's data dir files here (docs/production.md)",
      );
    }
    if (stored !== this.o.identity.serialized()) this.o.identity.adopt(stored);
    this.version = row.version;
  }

  close(): void {
    clearInterval(this.timer);
    this.unsubscribe?.();
  }
}
