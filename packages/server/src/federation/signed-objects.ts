import { createHash } from 'node:crypto';
import { canonicalJson } from '@p2pvps/protocol/canonical-json';
import type { ServerKey } from '@p2pvps/protocol/federation-schemas';
import { verifyEd25519 } from './server-key.ts';

/** Who signs: this server's URL and current key. */
export interface ObjectSigner {
  url: string;
  keyId: string;
  sign(data: Buffer): Buffer;
}

export type Signed<T> = T & { issuer: string; keyId: string; signature: string };

/**
 * A signed object (docs/federation.md): the fields with `issuer` and `keyId`, signed over
 * their canonical JSON. Usage reports, acks, statements, settlements and receipts are kept
 * as received, so either side can show one to anyone holding the issuer's key.
 */
export function signObject<T extends object>(fields: T, signer: ObjectSigner): Signed<T> {
  // JSON drops undefined fields; drop them before signing so the receiver checks the same bytes.
  const unsigned = JSON.parse(JSON.stringify({ ...fields, issuer: signer.url, keyId: signer.keyId })) as T & {
    issuer: string;
    keyId: string;
  };
  return { ...unsigned, signature: signer.sign(Buffer.from(canonicalJson(unsigned))).toString('base64url') };
}

/** True when `raw` is signed by `issuer` with `key` (the issuer's pinned key). */
export function objectSignatureValid(raw: Record<string, unknown>, issuer: { url: string; key: ServerKey }): boolean {
  const { signature, ...unsigned } = raw;
  if (typeof signature !== 'string' || unsigned.issuer !== issuer.url || unsigned.keyId !== issuer.key.id) return false;
  return verifyEd25519(issuer.key, Buffer.from(canonicalJson(unsigned)), Buffer.from(signature, 'base64url'));
}

/** A signed object's hash: SHA-256 of its canonical JSON, signature included, base64url. What the next report or a statement line names. */
export function objectHash(signed: object): string {
  return createHash('sha256').update(canonicalJson(signed)).digest('base64url');
}
