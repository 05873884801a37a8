import { createPrivateKey, sign } from 'node:crypto';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';

/**
 * Generates an Ed25519 key pair in OpenSSH format. ssh2's generator drops leading zero
 * bytes of the public key about once in 256 keys, producing a key that nothing can
 * parse (mscdex/ssh2#1390): generate again until the public key parses.
 */
export function generateEd25519KeyPair(comment: string): { private: string; public: string } {
  for (;;) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment });
    const parsed = ssh2.utils.parseKey(pair.public);
    if (!(parsed instanceof Error) && ssh2.utils.parseKey(pair.private) instanceof Error === false) return pair;
  }
}

/**
 * Parses a private key for ssh2 so that its signatures use a key decoded once. ssh2
 * hands node:crypto the key as PEM text, which OpenSSL 3 decodes again on every
 * signature (~0.7 ms against ~0.05 ms): most of a login's cost on either side when
 * thousands of devices come back at once. Keys other than Ed25519 keep ssh2's own path.
 */
export function signingKey(privateKey: string | Buffer): ParsedKey {
  const parsed = ssh2.utils.parseKey(privateKey);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error) throw new Error(`unusable private key: ${key?.message ?? 'no key'}`);
  if (key.type !== 'ssh-ed25519') return key;
  const decoded = createPrivateKey(key.getPrivatePEM());
  const viaPem = key.sign.bind(key);
  key.sign = (data: Buffer, algo?: string) => {
    if (algo) return viaPem(data, algo);
    try {
      return sign(null, data, decoded);
    } catch (err) {
      return err as Error;
    }
  };
  return key;
}
