import { HardwareVerification, type BenchmarkFigures } from '@p2pvps/protocol/benchmark';
import type { DeviceRow } from '../../db/devices-repo.ts';

/**
 * What a device is sold on: its reported hardware, or an owner's per-rental offer (which
 * may also promise bandwidth). Whichever the market shows is what the benchmark checks.
 */
export interface HardwareClaim {
  cores: number;
  memoryBytes: number;
  diskBytes: number;
  bandwidthMbit: number | null;
}

export interface Measurement {
  figures: BenchmarkFigures;
  /** How much memory the challenge asked the device to touch (the claim, up to the server's cap). */
  memoryProbeBytes: number;
  /** Device → server through the tunnel, timed by the server; null if it could not be measured. */
  tunnelMbit: number | null;
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/**
 * Compares a claim with what was measured. A figure fails when the measurement falls more
 * than `tolerancePercent` below the claim: cores that do not scale, memory that could not be
 * allocated and touched, less disk than claimed, or a tunnel slower than a promised bandwidth.
 */
export function checkClaims(
  deviceId: string,
  claim: HardwareClaim,
  measured: Measurement,
  tolerancePercent: number,
  measuredAt: string,
): HardwareVerification {
  const floor = (claimed: number) => claimed * (1 - tolerancePercent / 100);
  const f = measured.figures;
  const reasons: string[] = [];
  const cores = { claimed: claim.cores, measured: round(f.coresScaling, 2), ok: f.coresScaling >= floor(claim.cores) };
  if (!cores.ok) reasons.push(`It claims ${claim.cores} cores, but CPU work spread over only ${cores.measured} of them.`);
  // Touching more than the probe asked for proves nothing more; less means the allocation was refused or killed.
  const memoryOk = f.memoryTouchedBytes >= floor(measured.memoryProbeBytes);
  const memoryBytes = { claimed: claim.memoryBytes, measured: f.memoryTouchedBytes, ok: memoryOk };
  if (!memoryOk)
    reasons.push(
      `It claims ${gib(claim.memoryBytes)} of memory, but only ${gib(f.memoryTouchedBytes)} of the ${gib(measured.memoryProbeBytes)} tried could be allocated and used.`,
    );
  const diskBytes = { claimed: claim.diskBytes, measured: f.diskBytes, ok: f.diskBytes >= floor(claim.diskBytes) };
  if (!diskBytes.ok) reasons.push(`It claims ${gib(claim.diskBytes)} of disk, but the renter storage has ${gib(f.diskBytes)} free.`);
  const tunnel = measured.tunnelMbit;
  const bandwidthOk = claim.bandwidthMbit === null || (tunnel !== null && tunnel >= floor(claim.bandwidthMbit));
  const bandwidthMbit = { claimed: claim.bandwidthMbit, measured: tunnel === null ? null : round(tunnel, 1), ok: bandwidthOk };
  if (!bandwidthOk)
    reasons.push(
      tunnel === null
        ? `It promises ${claim.bandwidthMbit} Mbit/s, but the server could not measure its tunnel.`
        : `It promises ${claim.bandwidthMbit} Mbit/s, but its tunnel carried ${bandwidthMbit.measured} Mbit/s.`,
    );
  return {
    deviceId,
    measuredAt,
    passed: reasons.length === 0,
    reasons,
    cores,
    memoryBytes,
    diskBytes,
    bandwidthMbit,
    cpuOpsPerSecPerCore: round(f.cpuOpsPerSecPerCore, 1),
    memoryCopyBytesPerSec: Math.round(f.memoryCopyBytesPerSec),
    diskSeqWriteBytesPerSec: Math.round(f.diskSeqWriteBytesPerSec),
    diskSeqReadBytesPerSec: Math.round(f.diskSeqReadBytesPerSec),
    diskRandomReadIops: Math.round(f.diskRandomReadIops),
    tunnelMbit: tunnel === null ? null : round(tunnel, 1),
  };
}

/** The flag an owner sees while the device is off the market for it. */
export function hardwareFlag(v: HardwareVerification): string | null {
  if (v.passed) return null;
  return `The benchmark did not bear out this device's claims: ${v.reasons.join(' ')} It stays off the market until a later benchmark passes.`;
}

function round(n: number, digits: number): number {
  const k = 10 ** digits;
  return Math.round(n * k) / k;
}

/** The stored verdict of a device's last benchmark, or null when it has none (or an unreadable one). */
export function verificationOf(row: Pick<DeviceRow, 'hardware_verification'>): HardwareVerification | null {
  if (!row.hardware_verification) return null;
  const parsed = HardwareVerification.safeParse(JSON.parse(row.hardware_verification));
  return parsed.success ? parsed.data : null;
}
