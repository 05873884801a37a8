import type { RentPackage } from '@p2pvps/protocol/app-packages';
import type { Rental } from '@p2pvps/protocol/schemas';

/**
 * Renting a peer's device through this server (docs/federation.md): the domain's rentals
 * reach federation/remote-rentals.ts through this port, set on the context by
 * startFederation, so domain code never imports the federation module.
 */
export interface RemoteRentalPort {
  /** What this server adds to a peer's price, in basis points. */
  feeBps: number;
  /** Rents a peer's listed device for `renterId`; null when no active peer lists it. */
  rent(
    renterId: string,
    input: { deviceId: string; sshPublicKey?: string; hours?: number; autoRenew?: boolean; encryptionKey?: string; package?: RentPackage },
  ): Promise<Rental | null>;
  get(renterId: string, rentalId: string): Promise<Rental | undefined>;
  list(renterId: string, includeEnded: boolean): Promise<Rental[]>;
  /** Stops the renter's remote rental; undefined when they have none by that ID. */
  stop(renterId: string, rentalId: string): Promise<Rental | undefined>;
}
