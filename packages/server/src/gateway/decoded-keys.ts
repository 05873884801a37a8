import { createPublicKey, verify } from 'node:crypto';
import type { ParsedKey } from 'ssh2';

/**
 * ssh2 checks signatures against the key's PEM text, which OpenSSL 3 decodes again on
 * every call; a device's raw Ed25519 key imported as a JWK needs no PEM decoder, which
 * halves the cost of each device login's signature check. (The host key's side of this
 * is `signingKey` in protocol's ssh-keys.) Whether `signature` over `data` is by this
 * Ed25519 public key.
 */
export function verifyEd25519(key: ParsedKey, data: Buffer, signature: Buffer): boolean {
  if (key.type !== 'ssh-ed25519') return false;
  // The SSH wire form ends with the 32-byte public key; as a JWK it needs no PEM decoder.
  const x = key.getPublicSSH().subarray(-32).toString('base64url');
  try {
    return verify(null, data, createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' }), signature);
  } catch {
    return false;
  }
}
