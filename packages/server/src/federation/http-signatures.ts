import { createHash, randomBytes } from 'node:crypto';
import { originHeader } from '@p2pvps/protocol/federation-schemas';

/**
 * HTTP Message Signatures (RFC 9421) as servers sign each other's requests: one signature
 * `sig1` over the method, the full target URI (so a request made for one server is no good
 * at another), the body's Content-Digest (RFC 9530, sha-256) and the sending server's
 * origin, with the parameters created, keyid (the key's fingerprint), alg="ed25519" and
 * a random nonce (the receiver remembers it for the clock window: no replays).
 */
export const coveredComponents = ['@method', '@target-uri', 'content-digest', originHeader] as const;

export function contentDigest(body: string): string {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
}

export interface SignatureParams {
  created: number;
  keyid: string;
  alg: string;
  nonce: string;
}

interface SignedMessage {
  method: string;
  targetUri: string;
  contentDigest: string;
  origin: string;
}

function componentValue(m: SignedMessage, component: string): string {
  if (component === '@method') return m.method.toUpperCase();
  if (component === '@target-uri') return m.targetUri;
  if (component === 'content-digest') return m.contentDigest;
  if (component === originHeader) return m.origin;
  throw new Error(`unsupported component ${component}`);
}

function paramsText(components: readonly string[], p: SignatureParams): string {
  return `(${components.map((c) => `"${c}"`).join(' ')});created=${p.created};keyid="${p.keyid}";alg="${p.alg}";nonce="${p.nonce}"`;
}

/** The signature base of RFC 9421 §2.5: one line per covered component, then @signature-params. */
export function signatureBase(m: SignedMessage, components: readonly string[], params: string): Buffer {
  const lines = components.map((c) => `"${c}": ${componentValue(m, c)}`);
  lines.push(`"@signature-params": ${params}`);
  return Buffer.from(lines.join('\n'));
}

/** The headers that sign a request from `origin` with the key `keyid`. */
export function signRequest(
  req: { method: string; targetUri: string; body: string; origin: string },
  key: { keyid: string; sign(data: Buffer): Buffer },
  nowMs: number,
): Record<string, string> {
  const digest = contentDigest(req.body);
  const params = paramsText(coveredComponents, {
    created: Math.floor(nowMs / 1000),
    keyid: key.keyid,
    alg: 'ed25519',
    nonce: randomBytes(16).toString('base64url'),
  });
  const base = signatureBase(
    { method: req.method, targetUri: req.targetUri, contentDigest: digest, origin: req.origin },
    coveredComponents,
    params,
  );
  return {
    'content-digest': digest,
    [originHeader]: req.origin,
    'signature-input': `sig1=${params}`,
    signature: `sig1=:${key.sign(base).toString('base64')}:`,
  };
}

export interface ParsedSignature {
  components: string[];
  params: SignatureParams;
  paramsText: string;
  signature: Buffer;
}

/**
 * Reads `sig1` from Signature-Input and Signature in the form signRequest writes (a strict
 * subset of RFC 8941 structured fields); null when either is missing or malformed, or when
 * it does not cover every component we require.
 */
export function parseSignature(headers: Record<string, string | string[] | undefined>): ParsedSignature | null {
  const input = single(headers['signature-input']);
  const sig = single(headers.signature);
  if (!input || !sig) return null;
  const m = /^sig1=(\(((?:"[a-z0-9@-]+" ?)*)\)((?:;[a-z]+=(?:\d{1,12}|"[A-Za-z0-9+/=:_-]{1,200}"))*))$/.exec(input.trim());
  const s = /^sig1=:([A-Za-z0-9+/]+={0,2}):$/.exec(sig.trim());
  if (!m || !s) return null;
  const components = [...(m[2] ?? '').matchAll(/"([a-z0-9@-]+)"/g)].map((c) => c[1]!);
  const raw = Object.fromEntries([...(m[3] ?? '').matchAll(/;([a-z]+)=(?:(\d+)|"([^"]*)")/g)].map((p) => [p[1]!, p[2] ?? p[3]!]));
  if (!coveredComponents.every((c) => components.includes(c)) || new Set(components).size !== components.length) return null;
  if (!components.every((c) => (coveredComponents as readonly string[]).includes(c))) return null;
  if (!/^\d+$/.test(raw.created ?? '') || !raw.keyid || !raw.alg || !raw.nonce) return null;
  return {
    components,
    params: { created: Number(raw.created), keyid: raw.keyid, alg: raw.alg, nonce: raw.nonce },
    paramsText: m[1]!,
    signature: Buffer.from(s[1]!, 'base64'),
  };
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? (v.length === 1 ? v[0] : undefined) : v;
}
