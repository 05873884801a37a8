import { createPrivateKey, createPublicKey, hkdfSync } from 'node:crypto';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { signingKey } from '@p2pvps/protocol/ssh-keys';

/** The two Ed25519 keys every node of a cluster derives from the shared secret. */
export interface ClusterKeys {
  /** The link's SSH host key: a node dialling another accepts only this one. */
  host: ParsedKey;
  /** The key a dialling node logs in with: the listening node accepts only this one. */
  client: ParsedKey;
  /** The client key as OpenSSH private key text (ssh2's client takes text). */
  clientText: string;
}

/** The shortest secret accepted: 32 characters, e.g. `openssl rand -hex 32` gives 64. */
export const minSecretLength = 32;

/**
 * Derives the link's keys from the cluster secret with HKDF-SHA256, one key per role, so
 * that nothing but the secret file has to be copied to a new node. Knowing the secret is
 * what makes a node a member: both sides prove it by an SSH signature over their session's
 * exchange hash, which is fresh for every connection, so a recorded login replays nowhere.
 */
export function clusterKeys(secret: string): ClusterKeys {
  if (secret.length < minSecretLength) throw new Error(`the cluster secret must be at least ${minSecretLength} characters`);
  const host = openSshPrivateKey(seed(secret, 'p2pvps node-link host key v1'), 'p2pvps-node-link-host');
  const client = openSshPrivateKey(seed(secret, 'p2pvps node-link client key v1'), 'p2pvps-node-link-client');
  return { host: signingKey(host), client: parse(client), clientText: client };
}

function seed(secret: string, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.from('p2pvps cluster'), Buffer.from(info), 32));
}

function parse(text: string): ParsedKey {
  const parsed = ssh2.utils.parseKey(text);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error) throw new Error('could not build the cluster key');
  return key;
}

/** PKCS#8 for an Ed25519 private key is this fixed prefix and the 32-byte seed (RFC 8410). */
const pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');

/** An unencrypted OpenSSH private key file (PROTOCOL.key) for the Ed25519 key with this seed. */
function openSshPrivateKey(seedBytes: Buffer, comment: string): string {
  const privateKey = createPrivateKey({ key: Buffer.concat([pkcs8Prefix, seedBytes]), format: 'der', type: 'pkcs8' });
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  const pub = Buffer.from(jwk.x as string, 'base64url');
  const str = (b: Buffer | string) => {
    const buf = typeof b === 'string' ? Buffer.from(b) : b;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(buf.length);
    return Buffer.concat([len, buf]);
  };
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const publicBlob = Buffer.concat([str('ssh-ed25519'), str(pub)]);
  // The check integers only have to match each other; derived from the key so the text is stable.
  const check = pub.readUInt32BE(0);
  let section = Buffer.concat([u32(check), u32(check), publicBlob, str(Buffer.concat([seedBytes, pub])), str(comment)]);
  const padding = Buffer.from(Array.from({ length: (8 - (section.length % 8)) % 8 }, (_, i) => i + 1));
  section = Buffer.concat([section, padding]);
  const body = Buffer.concat([Buffer.from('openssh-key-v1\0'), str('none'), str('none'), str(''), u32(1), str(publicBlob), str(section)]);
  const lines = body.toString('base64').match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}
