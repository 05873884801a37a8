import type { DesiredRental } from '@p2pvps/protocol/agent-schemas';
import type { DesiredApp } from '@p2pvps/protocol/app-packages';
import type { Offer } from '@p2pvps/protocol/schemas';
import type { RentalRow } from '../../db/rentals-repo.ts';
import type { DomainContext } from '../context.ts';
import { withWebHost } from '../packages/app-packages.ts';
import { desiredEncryption } from './encrypted-storage.ts';

/** A rental as its device's agent runs it (what a heartbeat reply or a rent's nudge carries); `web` its web name. */
export function desired(ctx: DomainContext, rental: RentalRow, web: string): DesiredRental {
  return {
    rentalId: rental.id,
    username: rental.username,
    // The device gets the crypt(3) hash only; the password itself never leaves the server but to its renter.
    passwordHash: rental.password_crypt,
    authorizedKey: rental.ssh_public_key,
    expiresAt: rental.expires_at,
    // What the container gets; a rental from before offers leaves the agent to its own limits.
    ...(rental.offer ? { offer: JSON.parse(rental.offer) as Offer } : {}),
    // Encrypted storage: the renter's secret rides along only while the server holds it in memory.
    ...desiredEncryption(ctx, rental),
    // The deployment package, with the rental's web name for its certificate and pages.
    ...(rental.app ? { app: withWebHost(JSON.parse(rental.app) as DesiredApp, web) } : {}),
  };
}
