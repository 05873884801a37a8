import { z } from 'zod';
import { Listing } from './schemas.ts';
import { Fingerprint, PeerUrl } from './federation-ids.ts';

export { Fingerprint, PeerUrl };

/**
 * Server-to-server messages (docs/federation.md). Everything a peer sends is parsed by
 * these schemas; what its signatures prove is checked by the server's federation/ module.
 */

const base64url = z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be base64url without padding');
const isoTime = z.string().datetime({ offset: true });

export const ServerKey = z.object({
  id: Fingerprint,
  alg: z.literal('ed25519'),
  /** The raw 32-byte public key, base64url. */
  publicKey: base64url.length(43),
});
export type ServerKey = z.infer<typeof ServerKey>;

/** A key the server signed with before; `rotationSignature` is its own signature (ed25519, base64url) over the rotation statement naming its successor. */
export const PreviousKey = ServerKey.extend({
  retiredAt: isoTime,
  successor: Fingerprint,
  rotationSignature: base64url,
});
export type PreviousKey = z.infer<typeof PreviousKey>;

/** `GET /.well-known/p2pvps-server`: who the server is and which key it signs with now. */
export const ServerDocument = z.object({
  name: z.string().min(1).max(80),
  url: PeerUrl,
  key: ServerKey,
  /** Oldest first; each names the key that replaced it. */
  previousKeys: z.array(PreviousKey).max(100),
  /** The marketplace's share of each charge on this server, in percent. */
  feePercent: z.number().min(0).max(100),
  /** ISO 4217 code of the currency its prices are in: peers link only within one currency. */
  currency: z.string().regex(/^[A-Z]{3}$/),
  /** What this server adds, in percent, to a peer's price when its renters rent a peer's device through it. */
  federationFeePercent: z.number().min(0).max(100),
});
export type ServerDocument = z.infer<typeof ServerDocument>;

/** A listing as its home server publishes it to peers, signed over its canonical JSON (all but `signature`). */
export const SignedListing = Listing.extend({
  homeServerUrl: PeerUrl,
  homeKeyId: Fingerprint,
  signedAt: isoTime,
  /** Peers that agreed to back the home server's devices up, which may speak for its running rentals. */
  backups: z.array(PeerUrl).max(8).optional(),
  signature: base64url,
});
export type SignedListing = z.infer<typeof SignedListing>;

export const maxFederatedListings = 2000;
/** `POST /federation/v1/listings` (a push) and the reply to `GET` (a pull): all of the sender's own listings now. */
export const ListingSnapshot = z.object({
  listings: z.array(z.unknown()).max(maxFederatedListings),
});

export const PeerState = z.enum(['active', 'suspended']);
export const FederationPeer = z.object({
  id: z.string(),
  url: z.string(),
  name: z.string(),
  fingerprint: Fingerprint,
  state: PeerState,
  feePercent: z.number().nullable(),
  linkedAt: isoTime,
  updatedAt: isoTime,
  /** The last time its listings arrived (pushed or pulled), and the last problem syncing with it. */
  lastSyncAt: isoTime.nullable(),
  lastError: z.string().nullable(),
  listings: z.number().int().min(0),
  /** The inter-server account in our ledger: positive, what we owe the peer; negative, what it owes us. */
  accountMicros: z.number().int().optional(),
  /** What the peer may owe us at most (null: no limit), and since when it owes more (its new rentals refused). */
  creditLimitMicros: z.number().int().nullable().optional(),
  overLimitSince: isoTime.nullable().optional(),
});
export type FederationPeer = z.infer<typeof FederationPeer>;

export const FederationIdentity = z.object({
  name: z.string(),
  url: z.string(),
  fingerprint: Fingerprint,
  publicKey: z.string(),
  previousKeys: z.array(PreviousKey),
  wellKnownUrl: z.string(),
});
export type FederationIdentity = z.infer<typeof FederationIdentity>;

export const FederationOverview = z.object({ identity: FederationIdentity, peers: z.array(FederationPeer) });
export type FederationOverview = z.infer<typeof FederationOverview>;

export const LinkPeerBody = z.object({ url: PeerUrl, fingerprint: Fingerprint }).strict();
export const PeerParams = z.object({ peerId: z.string().regex(/^[a-z0-9]{6,40}$/) }).strict();
export const UpdatePeerBody = z.object({ state: PeerState }).strict();
export const UnlinkedPeer = z.object({ unlinked: z.literal(true) });
export const PeerLimitBody = z.object({ limitMicros: z.number().int().min(0).max(1_000_000_000_000).nullable() }).strict();
export const SettleBody = z
  .object({
    amountMicros: z.number().int().min(1).max(1_000_000_000_000),
    reference: z.string().min(1).max(200),
    rail: z.string().min(1).max(40).optional(),
  })
  .strict();
export const SettleResult = z.object({ settlementId: z.string(), receipted: z.boolean(), problem: z.string().nullable() });
export const PeerStatements = z.object({
  statements: z.array(
    z.object({
      hash: z.string(),
      direction: z.enum(['issued', 'received']),
      state: z.string(),
      periodTo: isoTime,
      closingMicros: z.number().int(),
      problem: z.string().nullable(),
      createdAt: isoTime,
    }),
  ),
});

/** Outside the JSON API's route table: answered to anyone, and to signed peers. */
export const wellKnownServerPath = '/.well-known/p2pvps-server';
export const federationListingsPath = '/federation/v1/listings';
/** The request header naming the sending server (its base URL), covered by the signature. */
export const originHeader = 'p2pvps-origin';
