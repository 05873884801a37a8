import type { DesiredRental, ObservedContainer } from '@p2pvps/protocol/agent-schemas';
import { WrongKeyError, type EncryptedHome } from './storage/encrypted-home.ts';

/**
 * An encrypted rental's storage on the rental side (docs/encryption.md): made encrypted at
 * the start with the renter's secret, and after a reboot, when the kernel no longer holds the
 * key, kept locked (the container stopped) until the server brings the secret again. What it
 * finds is reported in every heartbeat (`report`), so the owner and renter see "locked" and
 * the server drops the secret once the storage is open.
 */
export class StorageLock {
  report: { rentalId: string; locked: boolean; detail?: string } | null = null;

  constructor(
    private readonly home: Pick<EncryptedHome, 'create' | 'locked' | 'unlock'> & { readonly scheme?: string },
    private readonly log: (level: 'error' | 'warn' | 'info' | 'debug', msg: string) => void,
  ) {}

  /** A new encrypted rental: its home is made an encrypted directory with the key from the renter's secret. */
  async encrypt(desired: DesiredRental): Promise<void> {
    const secret = desired.encryption?.key;
    if (secret === undefined) throw new Error('the renter’s secret for the encrypted storage did not reach the device in time; rent again');
    await this.home.create(desired.rentalId, secret);
    this.report = { rentalId: desired.rentalId, locked: false };
    this.log('info', `rental ${desired.rentalId}: the renter's home is encrypted (${this.home.scheme ?? 'scheme unknown'})`);
  }

  /**
   * Whether the rental's container may run: its storage is not encrypted, or is unlocked (with
   * the secret the server sent, if the kernel lost the key). Otherwise `stopAll` stops the
   * container (Docker may have restarted it at boot, on a home it cannot read).
   */
  async open(desired: DesiredRental, stopAll: () => Promise<string[]>): Promise<boolean> {
    if (!desired.encryption) return true;
    const { rentalId } = desired;
    if (!(await this.home.locked())) {
      this.report = { rentalId, locked: false };
      return true;
    }
    const secret = desired.encryption.key;
    if (secret !== undefined) {
      try {
        await this.home.unlock(secret);
        this.report = { rentalId, locked: false };
        this.log('info', `rental ${rentalId}: encrypted storage unlocked with its renter's secret`);
        return true;
      } catch (err) {
        if (!(err instanceof WrongKeyError)) throw err;
        const detail =
          'The secret sent does not open this rental’s storage; it stays locked until its renter sends the right one (p2pvps unlock).';
        this.report = { rentalId, locked: true, detail };
      }
    } else if (this.report?.rentalId !== rentalId || !this.report.locked) {
      // A wrong secret's word stays until another secret comes.
      this.report = { rentalId, locked: true };
    }
    const stopped = await stopAll();
    if (stopped.length) this.log('info', `rental ${rentalId}: its storage is locked; container stopped until its renter unlocks it`);
    return false;
  }

  /** What the runner reports of a locked rental's container: waiting, neither ready nor failed. */
  observation(rentalId: string): ObservedContainer {
    return { rentalId, state: 'starting', detail: 'The encrypted storage is locked; it waits for its renter’s secret.' };
  }
}
