import { canonicalJson } from '@p2pvps/protocol/canonical-json';
import {
  BackupAgreement,
  BackupHandback,
  type BackupGateway,
  type BackupHandback as Handback,
} from '@p2pvps/protocol/federation-backup-schemas';
import type { ServerKey } from '@p2pvps/protocol/federation-schemas';
import { DomainError } from '../domain/errors.ts';
import type { PostOptions } from '../domain/money/ledger.ts';
import { verifyEd25519 } from './server-key.ts';

/** Who signs: a server's URL and key. */
export interface Signer {
  url: string;
  keyId: string;
  sign(data: Buffer): Buffer;
}

/**
 * A signed object (docs/federation.md): `issuer`, `keyId` and the issuer's Ed25519
 * signature over the canonical JSON of every other field, so it can be stored as received
 * and shown to anyone holding the issuer's key.
 */
export function signObject<T extends object>(fields: T, signer: Signer): T & { issuer: string; keyId: string; signature: string } {
  // JSON drops undefined fields; drop them before signing so the receiver checks the same bytes.
  const unsigned = JSON.parse(JSON.stringify({ ...fields, issuer: signer.url, keyId: signer.keyId }));
  return { ...unsigned, signature: signer.sign(Buffer.from(canonicalJson(unsigned))).toString('base64url') };
}

/** True when `raw`, as received, is signed by `issuer`'s key. */
export function signedBy(raw: Record<string, unknown>, issuer: { url: string; key: ServerKey }): boolean {
  const { signature, ...unsigned } = raw;
  if (typeof signature !== 'string' || unsigned.issuer !== issuer.url || unsigned.keyId !== issuer.key.id) return false;
  return verifyEd25519(issuer.key, Buffer.from(canonicalJson(unsigned)), Buffer.from(signature, 'base64url'));
}

export function signAgreement(
  o: { home: string; gateway: BackupGateway; webDomain: string; backupFeeBps: number; maxDevices: number; validUntil: string },
  signer: Signer,
): BackupAgreement {
  return signObject({ type: 'p2pvps-backup-agreement' as const, backup: signer.url, ...o }, signer);
}

/**
 * The agreement a backup peer answered: well-formed, signed by that peer, made out by it
 * for us (home) and itself (backup), and not expired. Anything else is refused whole.
 */
export function checkAgreement(raw: unknown, o: { peer: { url: string; key: ServerKey }; ownUrl: string; now: Date }): BackupAgreement {
  const parsed = BackupAgreement.safeParse(raw);
  if (!parsed.success) throw new DomainError('invalid_request', `The backup agreement is malformed: ${parsed.error.issues[0]?.message}.`);
  const a = parsed.data;
  if (a.issuer !== o.peer.url || a.backup !== o.peer.url || a.home !== o.ownUrl)
    throw new DomainError(
      'federation_wrong_origin',
      `The backup agreement names ${a.issuer} backing up ${a.home}, not ${o.peer.url} backing up ${o.ownUrl}.`,
    );
  if (!signedBy(raw as Record<string, unknown>, o.peer))
    throw new DomainError('federation_bad_signature', `The backup agreement is not signed by ${o.peer.url}'s key ${o.peer.key.id}.`);
  if (Date.parse(a.validUntil) <= o.now.getTime()) throw new DomainError('invalid_request', 'The backup agreement has already expired.');
  return a;
}

export function signHandback(fields: Omit<Handback, 'type' | 'issuer' | 'keyId' | 'signature'>, signer: Signer): Handback {
  return signObject({ type: 'p2pvps-backup-handback' as const, ...fields }, signer);
}

/** A stretch a backup peer handed back: signed by it, for us, and a sane stretch of time. */
export function checkHandback(raw: unknown, o: { peer: { url: string; key: ServerKey }; ownUrl: string }): Handback {
  const parsed = BackupHandback.safeParse(raw);
  if (!parsed.success) throw new DomainError('invalid_request', `A hand-back is malformed: ${parsed.error.issues[0]?.message}.`);
  const h = parsed.data;
  if (h.issuer !== o.peer.url || h.home !== o.ownUrl)
    throw new DomainError('federation_wrong_origin', `A hand-back from ${h.issuer} for ${h.home} came from ${o.peer.url}.`);
  if (!signedBy(raw as Record<string, unknown>, o.peer))
    throw new DomainError('federation_bad_signature', `A hand-back is not signed by ${o.peer.url}'s key ${o.peer.key.id}.`);
  const ms = Date.parse(h.to) - Date.parse(h.from);
  // Minutes are counted up (a started minute counts), never more than the stretch holds.
  if (ms < 0 || h.minutes > Math.ceil(ms / 60_000))
    throw new DomainError('invalid_request', `A hand-back claims ${h.minutes} minutes for a stretch of ${Math.max(0, ms)} ms.`);
  return h;
}

/** What `minutes` of a rental at `pricePerHourMicros` are worth, and the backup's share of it in basis points (both floored). */
export function backupWorth(minutes: number, pricePerHourMicros: bigint, feeBps: number): { amount: bigint; fee: bigint } {
  const amount = (BigInt(minutes) * pricePerHourMicros) / 60n;
  return { amount, fee: (amount * BigInt(feeBps)) / 10_000n };
}

/**
 * The backup fee of one stretch in one ledger, under the same external key in both
 * (`fed:backup:BACKUP_URL:SERVICE_ID`), so each posts it once and the two agree. The home
 * (B) owes it out of its own fees: `peer_account(C)` +fee (what B owes C), B's fees −fee.
 * The backup (C) earns it: `peer_account(B)` −fee, C's fees +fee.
 */
export function backupFeePosting(
  side: 'home' | 'backup',
  s: { peerId: string; backupUrl: string; serviceId: string; rentalId: string; minutes: number; feeMicros: bigint; at: string },
): PostOptions {
  const sign = side === 'home' ? 1n : -1n;
  return {
    kind: 'federation_backup',
    memo: `backup fee: ${s.minutes} min of rental ${s.rentalId} served by ${s.backupUrl} (stretch ${s.serviceId})`,
    at: s.at,
    externalKey: `fed:backup:${s.backupUrl}:${s.serviceId}`,
    postings: [
      { kind: 'peer_account', peerId: s.peerId, amount: sign * s.feeMicros },
      { kind: 'marketplace_fees', amount: -sign * s.feeMicros },
    ],
  };
}
