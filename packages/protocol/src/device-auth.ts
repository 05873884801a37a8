import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';

/**
 * Devices authenticate each HTTP call by signing it with their Ed25519 key (the same
 * key they use on the tunnel). The device ID in the header is only a lookup hint: it is
 * public, and alone it proves nothing.
 *
 * Header: `Authorization: P2PVPS-Device id=<deviceId>,ts=<unix ms>,sig=<base64url>`
 * Signed text: `p2pvps-device-v2\n<server origin>\n<METHOD>\n<path with query>\n<ts>\n<sha256 hex of body>`
 *
 * The origin (`https://vps.example.org`, as the agent's server URL names it) is the
 * signature's audience: a request signed for one server is refused by every other. The
 * server accepts each device's timestamps only in increasing order (a high-water mark in
 * its database), so a captured request cannot be replayed, not even after a restart.
 */
export const deviceAuthScheme = 'P2PVPS-Device';

/** The origin a signature is made for: scheme, host and port of the server URL, lower case, no path. */
export function deviceAuthAudience(serverUrl: string): string {
  return new URL(serverUrl).origin;
}

export function deviceSigningText(audience: string, method: string, path: string, ts: number, body: string): string {
  const bodyHash = createHash('sha256').update(body).digest('hex');
  return `p2pvps-device-v2\n${audience}\n${method.toUpperCase()}\n${path}\n${ts}\n${bodyHash}`;
}

/** The text agents before the audience signed; the server only uses it to say "update the agent". */
export function legacyDeviceSigningText(method: string, path: string, ts: number, body: string): string {
  const bodyHash = createHash('sha256').update(body).digest('hex');
  return `p2pvps-device-v1\n${method.toUpperCase()}\n${path}\n${ts}\n${bodyHash}`;
}

export function formatDeviceAuth(deviceId: string, ts: number, signature: Buffer): string {
  return `${deviceAuthScheme} id=${deviceId},ts=${ts},sig=${signature.toString('base64url')}`;
}

export function parseDeviceAuth(header: string | undefined): { deviceId: string; ts: number; signature: Buffer } | null {
  if (!header?.startsWith(`${deviceAuthScheme} `)) return null;
  const fields = new Map(
    header
      .slice(deviceAuthScheme.length + 1)
      .split(',')
      .map((part) => {
        const eq = part.indexOf('=');
        return [part.slice(0, eq).trim(), part.slice(eq + 1).trim()] as const;
      }),
  );
  const deviceId = fields.get('id');
  const ts = Number(fields.get('ts'));
  const sig = fields.get('sig');
  if (!deviceId || !Number.isSafeInteger(ts) || !sig) return null;
  return { deviceId, ts, signature: Buffer.from(sig, 'base64url') };
}

/** Turns an `ssh-ed25519 AAAA…` line into a KeyObject, or null if it is not Ed25519. */
export function ed25519KeyFromOpenSsh(line: string): KeyObject | null {
  const [type, b64] = line.trim().split(/\s+/);
  if (type !== 'ssh-ed25519' || !b64) return null;
  const blob = Buffer.from(b64, 'base64');
  // SSH wire format: string "ssh-ed25519", string <32-byte key>
  if (blob.length < 4) return null;
  const typeLen = blob.readUInt32BE(0);
  if (blob.subarray(4, 4 + typeLen).toString() !== 'ssh-ed25519') return null;
  const keyLen = blob.readUInt32BE(4 + typeLen);
  const raw = blob.subarray(8 + typeLen, 8 + typeLen + keyLen);
  if (keyLen !== 32 || raw.length !== 32) return null;
  const spkiPrefix = Buffer.from('302a300506032b6570032100', 'hex');
  return createPublicKey({ key: Buffer.concat([spkiPrefix, raw]), format: 'der', type: 'spki' });
}

export function verifyDeviceSignature(publicKey: KeyObject, text: string, signature: Buffer): boolean {
  try {
    return verify(null, Buffer.from(text), publicKey, signature);
  } catch {
    return false;
  }
}
