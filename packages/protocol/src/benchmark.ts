import { z } from 'zod';

/**
 * Verified hardware: the server hands an idle device a challenge (a random nonce that
 * expires) in a heartbeat reply; the agent measures itself and posts the figures with the
 * nonce, signed with the device key over `benchmarkSigningText` (benchmark-signing.ts). The server accepts a nonce
 * once, before it expires, and measures the tunnel's throughput itself.
 */

const Nonce = z.string().regex(/^[0-9a-f]{64}$/);

export const BenchmarkChallenge = z.object({
  nonce: Nonce,
  expiresAt: z.string(),
  /**
   * How much memory to allocate and touch: the claim, up to the server's cap, so a Pi is
   * not made to page for seconds.
   */
  memoryProbeBytes: z.number().int().min(0),
});
export type BenchmarkChallenge = z.infer<typeof BenchmarkChallenge>;

const rate = z.number().min(0).max(1e15);

/** What the device measured of itself. */
export const BenchmarkFigures = z
  .object({
    /** Workers run at once (the cores the device claims). */
    coresTried: z.number().int().min(1).max(4096),
    /** SHA-256 work of one worker alone, in 64 KiB blocks per second. */
    cpuOpsPerSecSingle: rate,
    /** The same work with `coresTried` workers at once, per worker. */
    cpuOpsPerSecPerCore: rate,
    /** How many cores the work really spread over: total rate ÷ the single rate. */
    coresScaling: z.number().min(0).max(4096),
    /** Memory allocated and every page written before the probe stopped (or was killed). */
    memoryTouchedBytes: z.number().int().min(0),
    memoryCopyBytesPerSec: rate,
    /** Free space on the renter storage, and its throughput with the page cache bypassed (O_DIRECT). */
    diskBytes: z.number().int().min(0),
    diskSeqWriteBytesPerSec: rate,
    diskSeqReadBytesPerSec: rate,
    diskRandomReadIops: rate,
    /** How the page cache was avoided: "direct" (O_DIRECT) or "fsync" (writes only; reads may be cached). */
    diskMethod: z.enum(['direct', 'fsync', 'none']),
    durationMs: z.number().int().min(0),
  })
  .strict();
export type BenchmarkFigures = z.infer<typeof BenchmarkFigures>;

export const BenchmarkResultBody = z
  .object({
    nonce: Nonce,
    figures: BenchmarkFigures,
    /** base64url Ed25519 signature over benchmarkSigningText(deviceId, nonce, figures). */
    signature: z.string().max(200),
  })
  .strict();
export type BenchmarkResultBody = z.infer<typeof BenchmarkResultBody>;

/** A figure the owner claims, beside what was measured; `ok` false when the claim exceeds it beyond the tolerance. */
export const VerifiedFigure = z.object({
  claimed: z.number().nullable(),
  measured: z.number().nullable(),
  ok: z.boolean(),
});

/** What the market and the owner see of the last benchmark. */
export const HardwareVerification = z.object({
  deviceId: z.string(),
  measuredAt: z.string(),
  passed: z.boolean(),
  /** Why it failed, in words for the owner; empty when it passed. */
  reasons: z.array(z.string()),
  cores: VerifiedFigure,
  memoryBytes: VerifiedFigure,
  diskBytes: VerifiedFigure,
  bandwidthMbit: VerifiedFigure,
  cpuOpsPerSecPerCore: z.number(),
  memoryCopyBytesPerSec: z.number(),
  diskSeqWriteBytesPerSec: z.number(),
  diskSeqReadBytesPerSec: z.number(),
  diskRandomReadIops: z.number(),
  /** Device → server through the tunnel, as the server timed it; null if it could not be measured. */
  tunnelMbit: z.number().nullable(),
});
export type HardwareVerification = z.infer<typeof HardwareVerification>;

/** The first bytes the server writes on a benchmark channel through the tunnel: the nonce, so the agent sends only for its challenge. */
export const tunnelBenchmarkOrigin = 'p2pvps-benchmark';
