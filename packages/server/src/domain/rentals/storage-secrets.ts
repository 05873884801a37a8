import type { Clock } from '../clock.ts';

/**
 * Renters' secrets for their encrypted storage, on their way to the device: held in this
 * process's memory only, never in the database, a log, a mail or a file. A secret comes in
 * with the rent or an unlock, goes out in the device's next heartbeat replies, and is dropped
 * as soon as the agent reports the storage unlocked (or says the secret is wrong), or after
 * `ttlMs` if the device never picks it up: the renter then unlocks again. A server restart
 * forgets them all, which only means the renter unlocks again.
 *
 * In a cluster the secret is held by the node the renter's request reached; a device whose
 * tunnel and heartbeats go to another node does not get it (docs/encryption.md, known limits).
 */
export class StorageSecrets {
  private readonly held = new Map<string, { secret: string; until: number; delivered: boolean }>();

  constructor(
    private readonly clock: Clock,
    readonly ttlMs = 10 * 60_000,
  ) {}

  put(rentalId: string, secret: string): void {
    this.held.set(rentalId, { secret, until: this.clock.now().getTime() + this.ttlMs, delivered: false });
  }

  /** The secret for a rental's device, if it is still held; from now on the device has had it. */
  deliver(rentalId: string): string | undefined {
    const h = this.held.get(rentalId);
    if (h && h.until <= this.clock.now().getTime()) this.held.delete(rentalId);
    const held = this.held.get(rentalId);
    if (held) held.delivered = true;
    return held?.secret;
  }

  /**
   * The device says the secret it had does not open the storage: dropped, unless it is one
   * the device has not had yet (the renter sent another since).
   */
  refused(rentalId: string): void {
    if (this.held.get(rentalId)?.delivered) this.held.delete(rentalId);
  }

  drop(rentalId: string): void {
    this.held.delete(rentalId);
  }
}
