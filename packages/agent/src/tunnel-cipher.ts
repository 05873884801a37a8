import { readFileSync } from 'node:fs';
import type { CipherAlgorithm } from 'ssh2';

/**
 * Which cipher the agent offers first for its tunnel. AES-GCM is the cheapest per byte on
 * a CPU with AES instructions (x86 AES-NI, the ARMv8 crypto extension: a Raspberry Pi 5);
 * without them (a Raspberry Pi 4) AES is done in table lookups and chacha20-poly1305 is
 * several times faster. The gateway takes the client's order.
 */
export const tunnelCipherChoices = ['auto', 'aes128-gcm', 'aes256-gcm', 'chacha20-poly1305'] as const;
export type TunnelCipherChoice = (typeof tunnelCipherChoices)[number];

const aesGcm128: CipherAlgorithm = 'aes128-gcm@openssh.com';
const aesGcm256: CipherAlgorithm = 'aes256-gcm@openssh.com';
const chacha: CipherAlgorithm = 'chacha20-poly1305@openssh.com';
/** Last resorts, for a gateway that offers neither AEAD cipher. */
const ctr: CipherAlgorithm[] = ['aes128-ctr', 'aes256-ctr'];

/**
 * True when /proc/cpuinfo says the CPU has AES instructions: the `aes` flag on x86
 * (`flags : ... aes ...`), the `aes` feature on ARM (`Features : ... aes ...`). Any
 * processor's line is enough: they are the same on every core of the boards we run on.
 */
export function hasAesInstructions(cpuinfo: string): boolean {
  return [...cpuinfo.matchAll(/^(?:flags|features)\s*:(.*)$/gim)].some((m) => m[1]!.trim().split(/\s+/).includes('aes'));
}

/** The tunnel's cipher list, best first, for a choice and what the CPU has. */
export function tunnelCiphers(choice: TunnelCipherChoice, aes: boolean): CipherAlgorithm[] {
  const first: CipherAlgorithm[] =
    choice === 'aes128-gcm'
      ? [aesGcm128, aesGcm256, chacha]
      : choice === 'aes256-gcm'
        ? [aesGcm256, aesGcm128, chacha]
        : choice === 'chacha20-poly1305' || !aes
          ? [chacha, aesGcm128, aesGcm256]
          : [aesGcm128, aesGcm256, chacha];
  return [...first, ...ctr];
}

/** The cipher list for this machine; a cpuinfo that cannot be read counts as no AES (chacha20 is never slow). */
export function tunnelCiphersHere(choice: TunnelCipherChoice, cpuinfoPath = '/proc/cpuinfo'): CipherAlgorithm[] {
  if (choice !== 'auto') return tunnelCiphers(choice, false);
  let cpuinfo = '';
  try {
    cpuinfo = readFileSync(cpuinfoPath, 'utf8');
  } catch {
    // Not Linux, or no /proc: fall through with nothing known.
  }
  return tunnelCiphers(choice, hasAesInstructions(cpuinfo));
}
