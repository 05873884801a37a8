import { z } from 'zod';

/**
 * The resource schemas a device's agent shares with the rest of the API: IDs, SSH keys, its
 * hardware and what one rental gets. Apart from schemas.ts (which re-exports them), so the
 * agent builds only these and its own messages, not every schema of the API.
 */

export const Id = z.string().regex(/^[a-z0-9]{6,40}$/, 'must be an ID of lowercase letters and digits');

/** An OpenSSH public key line; only key types OpenSSH accepts by default. */
export const SshPublicKey = z
  .string()
  .trim()
  .max(16_384)
  .regex(
    /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/,
    'must be one OpenSSH public key line, like "ssh-ed25519 AAAA… you@host"',
  );

export const Hardware = z
  .object({
    cpuModel: z.string().max(200),
    cores: z.number().int().min(1).max(4096),
    memoryBytes: z.number().int().min(0),
    diskBytes: z.number().int().min(0),
    arch: z.string().max(40),
    /**
     * The room a rental's / (the system: what root installs, logs) gets beside its disk
     * (/home), as the device's engine caps it (rentalSystemDiskBytes); null where the engine
     * cannot cap / and it shares the device's disk. Absent from older agents, which do not cap it.
     */
    systemDiskBytes: z.number().int().min(0).nullable().optional(),
  })
  .strict();
export type Hardware = z.infer<typeof Hardware>;

const MiB = 1024 * 1024;
/**
 * What one rental of a device gets, as its owner offers it within the device's hardware:
 * whole cores (a cpuset, so `nproc` in the container agrees), memory, disk (the size of the
 * renter's /home filesystem) and optionally a bandwidth cap each way. The market, `rent` and
 * the rental show this, never the device's totals.
 */
export const Offer = z.object({
  cores: z.number().int().min(1).max(4096),
  memoryBytes: z
    .number()
    .int()
    .min(64 * MiB, 'must be at least 64 MiB')
    .max(2 ** 50),
  diskBytes: z
    .number()
    .int()
    .min(16 * MiB, 'must be at least 16 MiB')
    .max(2 ** 53 - 1),
  /** Cap on the rental's traffic each way, in Mbit/s; null for none. */
  bandwidthMbit: z.number().min(0.1).max(100_000).nullable(),
});
// Not strict: replies that carry it (heartbeats, devices) may gain fields older readers drop.
export type Offer = z.infer<typeof Offer>;

/**
 * Room for the system on a rental's / (what root installs with apt-get, logs, /etc), beside
 * the offered disk, which is its /home. Where the device's Docker engine can cap a
 * container's own layer (overlay2 on XFS with project quotas) the agent caps / at this, and
 * `df /` inside shows it; elsewhere / is not capped and shares the device's disk.
 */
export const rentalSystemDiskBytes = 2048 * MiB;
