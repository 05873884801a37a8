import type { Db } from '../db/database.ts';
import { acquireLease, confirmLease, releaseLease, renewLease } from '../db/leases-repo.ts';
import type { Clock } from '../domain/clock.ts';

/** Thrown inside a holder's transaction when the lease is no longer its own: the transaction rolls back. */
export class LeaseLost extends Error {
  constructor(name: string) {
    super(`this node no longer holds the lease ${name}; its work is rolled back for the node that took over`);
    this.name = 'LeaseLost';
  }
}

export interface LeaderLeaseOptions {
  db: Db;
  /** The lease's row (several leases may exist; the server uses one for all its periodic work). */
  name: string;
  nodeId: string;
  /** How long a renewal holds the lease; renewed every third of it. */
  ttlMs: number;
  /** Wall time: the row's expiry is compared by every node with its own clock. */
  clock: Clock;
  log: { info(fields: object, message: string): void; warn(fields: object, message: string): void };
  /** Told when this node starts or stops leading (metrics, log lines). */
  onChange?: (leading: boolean, token: number) => void;
}

/**
 * Makes one node of a cluster the leader for some work, through a lease row in the shared
 * database: it acquires the lease when free or expired, renews it every TTL/3, and takes
 * itself for the leader only until its last successful renewal, counted from before it was
 * sent, runs out (less a sixth of the TTL, for clocks a little apart). A renewal that fails
 * or comes late ends its leadership at once; work it started is fenced: `fence(trx)` inside
 * the work's transaction refuses it once another node holds the lease under a newer token.
 * A node that dies is replaced once its lease expires, within one TTL and a renewal period.
 */
export class LeaderLease {
  private held: { token: number; validUntilMs: number } | null = null;
  private timer: NodeJS.Timeout | undefined;
  private attempt: Promise<void> | null = null;
  private closed = false;
  private lastError = '';

  constructor(private readonly o: LeaderLeaseOptions) {}

  /** Tries at once (a lone server leads from its start), then every TTL/3. */
  async start(): Promise<void> {
    await this.tick();
    if (this.closed) return;
    this.timer ??= setInterval(() => void this.tick(), Math.max(1, Math.floor(this.o.ttlMs / 3)));
  }

  /** True while this node may do the work: it holds the lease and its last renewal is still good by its own clock. */
  isLeader(): boolean {
    return this.held !== null && this.o.clock.now().getTime() < this.held.validUntilMs;
  }

  /** This node's current fencing token, while it leads. */
  token(): number | null {
    return this.isLeader() ? this.held!.token : null;
  }

  /** `job`, to run only while this node leads: a periodic worker on every node does nothing on the others. */
  whileLeading<T>(job: () => Promise<T>): () => Promise<T | undefined> {
    return async () => (this.isLeader() ? job() : undefined);
  }

  /**
   * Inside the transaction of the leader's work: throws `LeaseLost` (which rolls it back) if
   * this node no longer leads, by its own clock or by the row. Passing it means no other node
   * took over before this transaction commits.
   */
  async fence(trx: Db): Promise<void> {
    const held = this.held;
    if (!held || !this.isLeader() || !(await confirmLease(trx, this.o.name, this.o.nodeId, held.token))) {
      throw new LeaseLost(this.o.name);
    }
  }

  /** One renewal, or one attempt to acquire; at most one runs at a time. Tests call it with a manual clock. */
  tick(): Promise<void> {
    this.attempt ??= this.renewOrAcquire().finally(() => (this.attempt = null));
    return this.attempt;
  }

  private async renewOrAcquire(): Promise<void> {
    if (this.closed) return;
    const { db, name, nodeId, ttlMs } = this.o;
    // Validity counts from before the statement is sent: the row may be written at any moment after.
    const sentAt = this.o.clock.now().getTime();
    const now = new Date(sentAt).toISOString();
    const until = new Date(sentAt + ttlMs).toISOString();
    const validUntilMs = sentAt + ttlMs - Math.floor(ttlMs / 6);
    const held = this.held;
    try {
      if (held && this.isLeader()) {
        if (await renewLease(db, name, nodeId, held.token, now, until)) held.validUntilMs = validUntilMs;
        else this.lose('another node holds it');
        return;
      }
      if (held) this.lose('its renewal came too late');
      const taken = await acquireLease(db, name, nodeId, now, until);
      if (!taken || this.closed) return;
      this.held = { token: taken.token, validUntilMs };
      this.lastError = '';
      this.o.log.info(
        { lease: name, node: nodeId, token: taken.token },
        `this node leads the periodic work (lease ${name}, token ${taken.token})`,
      );
      this.o.onChange?.(true, taken.token);
    } catch (err) {
      if (this.held) this.lose(`its renewal failed: ${err instanceof Error ? err.message : String(err)}`);
      else if (String(err) !== this.lastError) {
        // Once per distinct failure: a database that is away would otherwise fill the log every TTL/3.
        this.lastError = String(err);
        this.o.log.warn({ err, lease: name, node: nodeId }, 'could not try to acquire the lease');
      }
    }
  }

  private lose(why: string): void {
    const token = this.held?.token ?? 0;
    this.held = null;
    this.o.log.warn({ lease: this.o.name, node: this.o.nodeId, token }, `this node stopped leading the periodic work: ${why}`);
    this.o.onChange?.(false, token);
  }

  /** Stops renewing and lets go of the lease so that another node takes over at once. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.attempt;
    const held = this.held;
    this.held = null;
    if (!held) return;
    await releaseLease(this.o.db, this.o.name, this.o.nodeId, held.token, this.o.clock.now().toISOString()).catch((err) =>
      this.o.log.warn({ err, lease: this.o.name }, 'could not release the lease; another node takes it when it expires'),
    );
    this.o.onChange?.(false, held.token);
  }
}
