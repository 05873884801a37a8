import type { Algorithms } from 'ssh2';

/**
 * The SSH algorithms of the device tunnel, for both ends (the gateway's ssh2 server and
 * the agent's ssh2 client), declared once. Only what an auditor (ssh-audit) passes: no
 * NIST-curve key exchange, no SHA-1, MACs only encrypt-then-MAC, and no compression,
 * which before login would put zlib in front of anyone who connects and after it buys
 * nothing for a tunnel that carries SSH and TLS (already incompressible).
 *
 * The client's order decides: AES-GCM first, the cheapest per byte with AES-NI;
 * chacha20-poly1305 for CPUs without AES instructions (older Raspberry Pis). Stock
 * OpenSSH (6.5 and later) has all of these, so `ssh -R` still logs in.
 */
export const tunnelSshAlgorithms: Algorithms = {
  kex: ['curve25519-sha256', 'curve25519-sha256@libssh.org'],
  serverHostKey: ['ssh-ed25519'],
  cipher: ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'chacha20-poly1305@openssh.com', 'aes128-ctr', 'aes256-ctr'],
  // Used only with the CTR ciphers: the AEAD ones carry their own tag.
  hmac: ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com'],
  compress: ['none'],
};

/**
 * The originator the gateway gives its nudge channel (one per tunnel connection, server to
 * agent, a JSON line per nudge): a name no visitor's address can be, like the benchmark's.
 * The nudges ride the tunnel, so a device holds one connection to the server, not two.
 */
export const tunnelNudgeOrigin = 'p2pvps-nudges';
/** The longest nudge line the agent reads; a longer one ends the channel. */
export const maxNudgeBytes = 16 * 1024;
