import { canonicalJson } from '@p2pvps/protocol/canonical-json';
import { SignedListing, type ServerKey } from '@p2pvps/protocol/federation-schemas';
import type { Listing } from '@p2pvps/protocol/schemas';
import { DomainError } from '../domain/errors.ts';
import { verifyEd25519 } from './server-key.ts';

/**
 * A listing as its home server publishes it: the listing with the home server's URL and
 * key, signed over its canonical JSON (everything but `signature`). Whoever holds the home
 * server's key (from its /.well-known/p2pvps-server) can check it, however many servers
 * it passed through.
 */
export function signListing(
  listing: Listing,
  home: { url: string; keyId: string; sign(data: Buffer): Buffer },
  signedAt: string,
): SignedListing {
  // JSON drops undefined fields; drop them before signing so the receiver signs the same bytes.
  const unsigned = JSON.parse(JSON.stringify({ ...listing, homeServerUrl: home.url, homeKeyId: home.keyId, signedAt }));
  return { ...unsigned, signature: home.sign(Buffer.from(canonicalJson(unsigned))).toString('base64url') };
}

/** True when `raw` (as received, not re-serialized) carries a valid signature of `home`'s key. */
export function listingSignatureValid(raw: Record<string, unknown>, home: ServerKey): boolean {
  const { signature, ...unsigned } = raw;
  if (typeof signature !== 'string' || unsigned.homeKeyId !== home.id) return false;
  return verifyEd25519(home, Buffer.from(canonicalJson(unsigned)), Buffer.from(signature, 'base64url'));
}

/**
 * Checks every listing a peer sent as its own: well-formed, homed on the peer itself (a
 * peer may not publish another server's device, even one validly signed by that server),
 * and signed by the peer's key. One bad listing refuses the whole message.
 */
export function checkPeerListings(peer: { url: string; key: ServerKey }, listings: unknown[]): { deviceId: string; json: string }[] {
  const seen = new Set<string>();
  return listings.map((raw, i) => {
    const parsed = SignedListing.safeParse(raw);
    if (!parsed.success)
      throw new DomainError('invalid_request', `Listing ${i} is not a signed listing.`, {
        [`body.listings.${i}`]: parsed.error.issues[0]?.message ?? 'invalid',
      });
    const listing = parsed.data;
    if (listing.homeServerUrl !== peer.url) {
      throw new DomainError(
        'federation_foreign_listing',
        `Listing ${i} (device ${listing.deviceId}) names ${listing.homeServerUrl} as its home server, but came from ${peer.url}: a server may only publish its own devices.`,
      );
    }
    if (!listingSignatureValid(raw as Record<string, unknown>, peer.key)) {
      throw new DomainError(
        'federation_listing_forged',
        `Listing ${i} (device ${listing.deviceId}) is not signed by ${peer.url}'s key ${peer.key.id}.`,
      );
    }
    if (seen.has(listing.deviceId)) throw new DomainError('invalid_request', `Device ${listing.deviceId} is listed twice.`);
    seen.add(listing.deviceId);
    return { deviceId: listing.deviceId, json: JSON.stringify(raw) };
  });
}
