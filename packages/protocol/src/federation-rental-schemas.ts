import { z } from 'zod';
import { Fingerprint, PeerUrl } from './federation-schemas.ts';
import { EndReason, RentalState, SshPublicKey } from './schemas.ts';

/**
 * Cross-server rentals (docs/federation.md, "The rental across two servers"): the messages a
 * renter's server (A) and a device's home server (B) exchange, each in a signed request
 * under /federation/v1/. Usage reports, acks, statements, settlements and receipts are
 * also signed objects (`issuer`, `keyId`, `signature` over the canonical JSON of the rest),
 * kept as received so either side can show them to anyone holding the issuer's key.
 */

const id = z.string().regex(/^[a-z0-9]{6,40}$/, 'must be an ID of lowercase letters and digits');
const isoTime = z.string().datetime({ offset: true });
const base64url = z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be base64url without padding');
/** Money in signed objects: integer micro-units as a decimal string, so no JSON number loses a digit. */
export const MicrosText = z.string().regex(/^-?\d{1,19}$/, 'must be integer micro-units as a decimal string');

export const federationRentalsPath = '/federation/v1/rentals';
export const federationUsagePath = '/federation/v1/usage';
export const federationStatementsPath = '/federation/v1/statements';
export const federationSettlementsPath = '/federation/v1/settlements';
export const rentalStatePath = (rentalId: string) => `${federationRentalsPath}/${rentalId}/state`;
export const rentalEndPath = (rentalId: string) => `${federationRentalsPath}/${rentalId}/end`;
export const rentalMovedPath = (rentalId: string) => `${federationRentalsPath}/${rentalId}/moved`;
export const rentalGuaranteePath = (rentalId: string) => `${federationRentalsPath}/${rentalId}/guarantee`;
export const RemoteRentalParams = z.object({ rentalId: id }).strict();

/** A pays B up to `maxMicros` for the rental's minutes until `validUntil`. */
export const Guarantee = z.object({ maxMicros: MicrosText, validUntil: isoTime }).strict();
export type Guarantee = z.infer<typeof Guarantee>;

/** A→B: rent this device for one of A's renters. `requestId` is A's ID, the idempotency key. */
export const RentalOffer = z
  .object({
    requestId: id,
    deviceId: id,
    listingSignedAt: isoTime,
    pricePerHourMicros: z.number().int().min(0).max(1_000_000_000_000),
    hours: z
      .number()
      .int()
      .min(1)
      .max(24 * 366)
      .nullable(),
    renter: z.object({ handle: z.string().min(1).max(200), sshPublicKey: SshPublicKey.nullable() }).strict(),
    guarantee: Guarantee,
  })
  .strict();
export type RentalOffer = z.infer<typeof RentalOffer>;

export const OfferAnswer = z.object({
  rentalId: id,
  state: RentalState,
  ssh: z.object({ host: z.string(), port: z.number().int(), username: z.string(), password: z.string() }),
  webHost: z.string(),
  /** The rental's web addresses at the device's server's front doors (their ports included). */
  httpUrl: z.string().optional(),
  httpsUrl: z.string().optional(),
});
export type OfferAnswer = z.infer<typeof OfferAnswer>;

/** B→A: the rental's state changed; `seq` counts B's changes, sent in order. */
export const RentalStateMessage = z
  .object({ seq: z.number().int().min(1), state: RentalState, at: isoTime, endReason: EndReason.nullable() })
  .strict();
export type RentalStateMessage = z.infer<typeof RentalStateMessage>;
export const StateAnswer = z.object({ acceptedSeq: z.number().int() });

/** Either side: end the rental (A: the renter stopped it or their money ran out; B: the device or owner ended it). */
export const EndMessage = z.object({ reason: EndReason, at: isoTime }).strict();

/**
 * C→A (or B→A): the device of `home`'s rental is served at these addresses now. A takes it
 * from `home` itself, or from a backup `home`'s signed listing of the device names
 * (docs/federation.md, "The join").
 */
export const MovedMessage = z
  .object({
    home: PeerUrl,
    deviceId: id,
    ssh: z.object({ host: z.string().min(1).max(253), port: z.number().int().min(1).max(65535) }).strict(),
    webHost: z.string().max(253),
    httpUrl: z.string().max(2048),
    at: isoTime,
  })
  .strict();
export type MovedMessage = z.infer<typeof MovedMessage>;

const signedFields = { issuer: PeerUrl, keyId: Fingerprint, signature: base64url };

/** B→A: minutes B served from `from` to `to`, with running totals and the hash of the report before (null for the first). */
export const UsageReport = z
  .object({
    type: z.literal('p2pvps-usage'),
    counterparty: PeerUrl,
    rentalId: id,
    seq: z.number().int().min(1),
    servedBy: PeerUrl,
    from: isoTime,
    to: isoTime,
    minutes: z.number().int().min(0),
    amountMicros: MicrosText,
    totalMinutes: z.number().int().min(0),
    totalMicros: MicrosText,
    previousHash: base64url.nullable(),
    ...signedFields,
  })
  .strict();
export type UsageReport = z.infer<typeof UsageReport>;

/** A→B: the report with this hash was taken (and posted once). */
export const UsageAck = z
  .object({ type: z.literal('p2pvps-usage-ack'), rentalId: id, seq: z.number().int().min(1), reportHash: base64url, ...signedFields })
  .strict();
export type UsageAck = z.infer<typeof UsageAck>;

export const StatementLine = z
  .object({ rentalId: id, seq: z.number().int().min(1), reportHash: base64url, amountMicros: MicrosText })
  .strict();
export const StatementPayment = z.object({ settlementId: id, receiptHash: base64url, amountMicros: MicrosText }).strict();

/** B→A: what A owes B, line by line, for a period; every line is a report A acknowledged or a settlement B receipted. */
export const StatementDoc = z
  .object({
    type: z.literal('p2pvps-statement'),
    counterparty: PeerUrl,
    period: z.object({ from: isoTime, to: isoTime }).strict(),
    previousStatementHash: base64url.nullable(),
    currency: z.string().regex(/^[A-Z]{3}$/),
    openingMicros: MicrosText,
    lines: z.array(StatementLine).max(100_000),
    payments: z.array(StatementPayment).max(10_000),
    closingMicros: MicrosText,
    dueAt: isoTime,
    ...signedFields,
  })
  .strict();
export type StatementDoc = z.infer<typeof StatementDoc>;

export const StatementAck = z
  .object({ type: z.literal('p2pvps-statement-ack'), statementHash: base64url, closingMicros: MicrosText, ...signedFields })
  .strict();
export type StatementAck = z.infer<typeof StatementAck>;

/** A→B: A paid this off-protocol (bank, chain) against a statement. */
export const Settlement = z
  .object({
    type: z.literal('p2pvps-settlement'),
    counterparty: PeerUrl,
    settlementId: id,
    amountMicros: MicrosText,
    rail: z.string().min(1).max(40),
    reference: z.string().min(1).max(200),
    statementHash: base64url.nullable(),
    ...signedFields,
  })
  .strict();
export type Settlement = z.infer<typeof Settlement>;

export const Receipt = z
  .object({ type: z.literal('p2pvps-receipt'), settlementId: id, amountMicros: MicrosText, receivedAt: isoTime, ...signedFields })
  .strict();
export type Receipt = z.infer<typeof Receipt>;
