import { Listing } from '@p2pvps/protocol/schemas';
import { findPeerListingHome, listActivePeerListings } from '../../db/federation-repo.ts';
import { findBackupDevice } from '../../db/federation-backups-repo.ts';
import { DomainError } from '../errors.ts';
import type { DomainContext } from '../context.ts';

/**
 * Active peers' listings for the market, beside our own: as their home server signed them
 * (checked when they arrived: federation/listing-signatures.ts), marked with its URL.
 * Suspended peers' are hidden; unlinked peers' are gone.
 */
export async function peerListings(ctx: DomainContext): Promise<Listing[]> {
  const rows = await listActivePeerListings(ctx.db);
  const feeBps = ctx.remoteRentals?.feeBps ?? 0;
  return rows.flatMap((r) => {
    const parsed = Listing.safeParse(JSON.parse(r.listing_json));
    if (!parsed.success) return [];
    const price = parsed.data.pricePerHourMicros;
    // Each side's fee, before renting: the renter pays the price plus ours; the home server takes its own from the owner's share.
    const federationFees = {
      renterPricePerHourMicros: price + Math.floor((price * feeBps) / 10_000),
      feePercent: feeBps / 100,
      homeFeePercent: r.fee_bps === null ? null : r.fee_bps / 100,
    };
    return [{ ...parsed.data, homeServerUrl: r.url, ...(ctx.remoteRentals ? { federationFees } : {}) }];
  });
}

/**
 * Why a device this server does not have cannot be rented here: a peer's device (renting
 * across servers is not built yet: docs/federation.md) is said so, anything else is not found.
 */
export async function notRentableHere(ctx: DomainContext, deviceId: string): Promise<DomainError> {
  // A peer's device we serve as its backup while its home is away takes no new rental: the
  // rental, its price and its payout belong to the home (docs/federation.md).
  if (ctx.tunnels.isOnline(deviceId) && (await findBackupDevice(ctx.db, deviceId)))
    return new DomainError(
      'federation_device_unavailable',
      'This device is served here by a backup server while its home server is away; it takes no new rental until its home is back.',
    );
  const home = await findPeerListingHome(ctx.db, deviceId);
  return home
    ? new DomainError(
        'device_not_listed',
        `This device's home server is ${home}; rent it there (renting a peer's device through this server is not built yet).`,
      )
    : new DomainError('not_found');
}
