import ssh2 from 'ssh2';

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
