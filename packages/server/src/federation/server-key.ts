import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '@p2pvps/protocol/canonical-json';
import { PreviousKey, type ServerDocument, type ServerKey } from '@p2pvps/protocol/federation-schemas';
import { z } from 'zod';
import type { Clock } from '../domain/clock.ts';

/** The server's federation signing key, beside the gateway's host key in the data dir (mode 0600). */
export const serverKeyFile = 'federation_ed25519_key.json';

const KeyFile = z.object({
  privateKey: z.string(),
  createdAt: z.string(),
  previousKeys: z.array(PreviousKey),
});

/** `SHA256:` and the unpadded base64 of the SHA-256 of the raw public key (OpenSSH writes its fingerprints so). */
export function fingerprintOf(rawPublicKey: Buffer): string {
  return `SHA256:${createHash('sha256').update(rawPublicKey).digest('base64').replace(/=+$/, '')}`;
}

export function rawPublicKey(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'jwk' }).x as string, 'base64url');
}

export function publicKeyFromRaw(raw: string): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw }, format: 'jwk' });
}

/** A ServerKey as published: its id is its fingerprint. */
export function serverKeyOf(publicKey: KeyObject): ServerKey {
  const raw = rawPublicKey(publicKey);
  return { id: fingerprintOf(raw), alg: 'ed25519', publicKey: raw.toString('base64url') };
}

/** What a retiring key signs: that `successor` replaces it. */
export function rotationStatement(previous: string, successor: string, retiredAt: string): Buffer {
  return Buffer.from(canonicalJson({ type: 'p2pvps-key-rotation', previousKey: previous, successor, retiredAt }));
}

export function verifyEd25519(publicKey: ServerKey, data: Buffer, signature: Buffer): boolean {
  try {
    const key = publicKeyFromRaw(publicKey.publicKey);
    return fingerprintOf(rawPublicKey(key)) === publicKey.id && verify(null, data, key, signature);
  } catch {
    return false;
  }
}

/**
 * Follows a peer's published rotations from the key we pinned: each retired key signed
 * the statement naming its successor, up to the key it uses now. Returns that key, or null
 * when the chain does not start at the pinned key, skips a link or a signature fails.
 */
export function followRotations(pinned: ServerKey, doc: Pick<ServerDocument, 'key' | 'previousKeys'>): ServerKey | null {
  let at = pinned;
  for (let step = 0; step <= doc.previousKeys.length; step++) {
    if (at.id === doc.key.id) return at.publicKey === doc.key.publicKey ? doc.key : null;
    const entry = doc.previousKeys.find((k) => k.id === at.id);
    if (!entry || entry.publicKey !== at.publicKey) return null;
    const signed = verifyEd25519(
      at,
      rotationStatement(entry.id, entry.successor, entry.retiredAt),
      Buffer.from(entry.rotationSignature, 'base64url'),
    );
    if (!signed) return null;
    const next = entry.successor === doc.key.id ? doc.key : doc.previousKeys.find((k) => k.id === entry.successor);
    if (!next) return null;
    at = { id: next.id, alg: 'ed25519', publicKey: next.publicKey };
  }
  return null;
}

/**
 * This server's signing identity. Created at first start; `rotate()` makes a new key and
 * has the old one sign the rotation, kept in `previousKeys` and published, so peers that
 * pinned any earlier key can follow the chain to the new one.
 */
export class ServerIdentity {
  private privateKey!: KeyObject;
  private state!: z.infer<typeof KeyFile>;
  key!: ServerKey;

  constructor(
    private readonly dataDir: string,
    private readonly clock: Clock,
  ) {
    const path = join(dataDir, serverKeyFile);
    if (!existsSync(path)) this.save({ privateKey: newPrivateKey(), createdAt: clock.now().toISOString(), previousKeys: [] });
    this.load(KeyFile.parse(JSON.parse(readFileSync(path, 'utf8'))));
  }

  get previousKeys(): PreviousKey[] {
    return this.state.previousKeys;
  }

  sign(data: Buffer): Buffer {
    return sign(null, data, this.privateKey);
  }

  rotate(): void {
    this.adopt(this.rotation());
  }

  /**
   * The key file's content after a rotation from the current key, not yet kept: a cluster
   * stores it in the database first (shared-key.ts), then every node adopts it.
   */
  rotation(): string {
    const retiredAt = this.clock.now().toISOString();
    const privateKey = newPrivateKey();
    const next = serverKeyOf(createPublicKey(createPrivateKey(privateKey)));
    const previous: PreviousKey = {
      ...this.key,
      retiredAt,
      successor: next.id,
      rotationSignature: this.sign(rotationStatement(this.key.id, next.id, retiredAt)).toString('base64url'),
    };
    return JSON.stringify({ privateKey, createdAt: retiredAt, previousKeys: [...this.state.previousKeys, previous] });
  }

  /** The key file's content, as `adopt` takes it. */
  serialized(): string {
    return JSON.stringify(this.state);
  }

  /** Takes this key file's content as the key from now on, and keeps it in the data dir. */
  adopt(serialized: string): void {
    this.save(KeyFile.parse(JSON.parse(serialized)));
  }

  document(name: string, url: string, feePercent: number, currency: string, federationFeePercent: number): ServerDocument {
    return { name, url, key: this.key, previousKeys: this.state.previousKeys, feePercent, currency, federationFeePercent };
  }

  private save(state: z.infer<typeof KeyFile>): void {
    const path = join(this.dataDir, serverKeyFile);
    // Written aside and renamed: a crash mid-rotation leaves the old key, never half a file.
    writeFileSync(`${path}.tmp`, JSON.stringify(state, null, 2), { mode: 0o600 });
    chmodSync(`${path}.tmp`, 0o600);
    renameSync(`${path}.tmp`, path);
    this.load(state);
  }

  private load(state: z.infer<typeof KeyFile>): void {
    this.state = state;
    this.privateKey = createPrivateKey(state.privateKey);
    this.key = serverKeyOf(createPublicKey(this.privateKey));
  }
}

function newPrivateKey(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
}
