import type { ServerKey } from '@p2pvps/protocol/federation-schemas';
import { originHeader } from '@p2pvps/protocol/federation-schemas';
import type { Db } from '../db/database.ts';
import { findPeerByFingerprint, findPeerByUrl, rememberNonce, type PeerRow } from '../db/federation-repo.ts';
import type { Clock } from '../domain/clock.ts';
import { DomainError } from '../domain/errors.ts';
import { contentDigest, parseSignature, signatureBase } from './http-signatures.ts';
import { verifyEd25519 } from './server-key.ts';

/** How far a signature's `created` may be from our clock, either way; its nonce is remembered this long after. */
export const signatureWindowMs = 60_000;

export interface InboundRequest {
  method: string;
  /** The path and query as received. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** The body's bytes as received ('' for none). */
  rawBody: string;
}

export interface RequestVerifierOptions {
  db: Db;
  clock: Clock;
  /** Our own base URL: the @target-uri a peer signs is this plus the path. */
  ownUrl: string;
  /**
   * The peer signs with a key we did not pin: fetch its server document and follow its
   * signed rotations from the pinned key (federation/peers.ts). Null when they do not lead to `keyid`.
   */
  followRotation(peer: PeerRow, keyid: string): Promise<ServerKey | null>;
}

/**
 * Checks a signed server-to-server request and returns the peer that sent it, or throws
 * the refusal's DomainError. The order matters: nothing is remembered (no nonce stored,
 * no key followed) for a request whose signature has not verified.
 */
export async function verifyPeerRequest(o: RequestVerifierOptions, req: InboundRequest): Promise<PeerRow> {
  const parsed = parseSignature(req.headers);
  const origin = req.headers[originHeader];
  if (!parsed || typeof origin !== 'string' || parsed.params.alg !== 'ed25519') throw new DomainError('federation_bad_signature');
  const { keyid, created, nonce } = parsed.params;
  const byKey = await findPeerByFingerprint(o.db, keyid);
  if (byKey && byKey.url !== origin) {
    throw new DomainError('federation_wrong_origin', `This key belongs to ${byKey.url}, not to the origin ${origin} the request names.`);
  }
  const peer = byKey ?? (await findPeerByUrl(o.db, origin));
  if (!peer) throw new DomainError('federation_unknown_peer');
  if (peer.state !== 'active') throw new DomainError('federation_peer_suspended');

  const skewMs = created * 1000 - o.clock.now().getTime();
  if (Math.abs(skewMs) > signatureWindowMs) {
    throw new DomainError('federation_clock_skew', undefined, undefined, o.clock.now().toISOString());
  }
  const digest = req.headers['content-digest'];
  if (typeof digest !== 'string' || digest !== contentDigest(req.rawBody)) throw new DomainError('federation_digest_mismatch');

  const base = signatureBase(
    { method: req.method, targetUri: `${o.ownUrl}${req.url}`, contentDigest: digest, origin },
    parsed.components,
    parsed.paramsText,
  );
  let signer: PeerRow = peer;
  const pinned: ServerKey = { id: peer.fingerprint, alg: 'ed25519', publicKey: peer.public_key };
  if (keyid === pinned.id) {
    if (!verifyEd25519(pinned, base, parsed.signature)) throw new DomainError('federation_bad_signature');
  } else {
    // Not the pinned key: accept it only as a rotation the pinned key signed, and only
    // once the request verifies under it (followRotation pins it for later requests).
    const rotated = await o.followRotation(peer, keyid);
    if (!rotated || rotated.id !== keyid) throw new DomainError('federation_wrong_key');
    if (!verifyEd25519(rotated, base, parsed.signature)) throw new DomainError('federation_bad_signature');
    // What the request carries (listings) is signed with the new key too.
    signer = { ...peer, fingerprint: rotated.id, public_key: rotated.publicKey };
  }

  const expiresAt = new Date(created * 1000 + signatureWindowMs + 1000).toISOString();
  if (!(await rememberNonce(o.db, peer.id, nonce, expiresAt))) throw new DomainError('federation_replay');
  return signer;
}
