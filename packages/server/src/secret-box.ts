import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Secrets the server must give back (a rental's password, which its renter may reveal at
 * any time) are kept in the database sealed with AES-256-GCM, under a key that lives in a
 * file of its own in the data dir. A copy of the database alone (a backup, a replica, a
 * stolen disk image of the database volume) then holds no password a renter could be
 * impersonated with. Secrets that only need checking are hashed instead (domain/secrets.ts).
 *
 * Sealed text: `sealed:v1:` + base64url(12-byte nonce ‖ ciphertext ‖ 16-byte tag). The
 * `context` (the rental's ID) is authenticated data, so a sealed value moved to another row
 * does not open there.
 */
export interface SecretBox {
  seal(plaintext: string, context: string): string;
  /** The plaintext; throws if the text was not sealed by this key for this context. */
  open(sealed: string, context: string): string;
}

const prefix = 'sealed:v1:';
export const secretBoxKeyFile = 'secret-box.key';

export function isSealed(text: string): boolean {
  return text.startsWith(prefix);
}

export function secretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new Error(`a secret box key is 32 bytes, not ${key.length}`);
  return {
    seal(plaintext, context) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return prefix + Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url');
    },
    open(sealed, context) {
      if (!isSealed(sealed)) throw new Error('not a sealed secret');
      const raw = Buffer.from(sealed.slice(prefix.length), 'base64url');
      if (raw.length < 28) throw new Error('sealed secret too short');
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(raw.subarray(raw.length - 16));
      return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
    },
  };
}

/**
 * The data dir's secret box, its key made from the CSPRNG on first start. The file is
 * created with O_EXCL and mode 0600 in one call, so the key is never readable by anyone
 * else, not even for an instant; an existing file's mode is tightened. Losing the file
 * loses the sealed passwords (open rentals keep working: the devices have their hashes),
 * so it belongs in the same backup as the database, kept apart from it.
 */
export function loadSecretBox(dataDir: string): SecretBox {
  const path = join(dataDir, secretBoxKeyFile);
  if (!existsSync(path)) {
    const fd = openSync(path, 'wx', 0o600);
    try {
      writeSync(fd, randomBytes(32));
    } finally {
      closeSync(fd);
    }
  }
  chmodSync(path, 0o600);
  const key = readFileSync(path);
  if (key.length !== 32) throw new Error(`${path} must hold exactly 32 bytes (it holds ${key.length}); restore it from a backup`);
  return secretBox(key);
}
