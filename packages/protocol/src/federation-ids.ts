import { z } from 'zod';

/**
 * How servers name each other: a key's fingerprint and a base URL. Apart from the other
 * federation schemas so the agent (which keeps its backups' fingerprints) does not load
 * the API's schemas with them.
 */

/** A server key's fingerprint: `SHA256:` and the unpadded base64 of the SHA-256 of its raw 32-byte Ed25519 public key. */
export const Fingerprint = z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'must look like SHA256: and 43 base64 characters');
function parsedUrl(u: string): URL | null {
  try {
    return new URL(u);
  } catch {
    return null;
  }
}
/** A peer's base URL: http(s), no path, query or fragment beyond "/". */
export const PeerUrl = z
  .string()
  .max(300)
  .refine((u) => /^https?:$/.test(parsedUrl(u)?.protocol ?? ''), 'must be an http or https URL')
  .refine((u) => {
    const p = parsedUrl(u);
    return !!p && (p.pathname === '/' || p.pathname === '') && !p.search && !p.hash && !p.username && !p.password;
  }, 'must be the server’s base URL, with no path, query or credentials')
  .transform((u) => new URL(u).origin);
