import { Listing } from '@p2pvps/protocol/schemas';
import { listActivePeerListings } from '../../db/federation-repo.ts';
import type { DomainContext } from '../context.ts';

/**
 * Active peers' listings for the market, beside our own: as their home server signed them
 * (checked when they arrived: federation/listing-signatures.ts), marked with its URL.
 * Suspended peers' are hidden; unlinked peers' are gone.
 */
export async function peerListings(ctx: DomainContext): Promise<Listing[]> {
  const rows = await listActivePeerListings(ctx.db);
  return rows.flatMap((r) => {
    const parsed = Listing.safeParse(JSON.parse(r.listing_json));
    return parsed.success ? [{ ...parsed.data, homeServerUrl: r.url }] : [];
  });
}
