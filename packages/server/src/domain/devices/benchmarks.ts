import { randomBytes } from 'node:crypto';
import type { BenchmarkChallenge, BenchmarkResultBody, HardwareVerification } from '@p2pvps/protocol/benchmark';
import { benchmarkSigningText } from '@p2pvps/protocol/benchmark-signing';
import { ed25519KeyFromOpenSsh, verifyDeviceSignature } from '@p2pvps/protocol/device-auth';
import type { Hardware } from '@p2pvps/protocol/schemas';
import { answerBenchmark, findBenchmark, insertBenchmarkChallenge, latestBenchmark } from '../../db/benchmarks-repo.ts';
import { findDevice, updateDevice, type DeviceRow } from '../../db/devices-repo.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { queueHardwareFlagged } from '../mail/notices.ts';
import { checkClaims, hardwareFlag, verificationOf, type HardwareClaim } from './hardware-claims.ts';
import { effectiveOffer } from './offer.ts';

/**
 * Verified hardware. An idle device is handed a challenge in a heartbeat reply: at its
 * first heartbeat (enrolment), then every `intervalMs`, never while it holds a rental. It
 * answers with figures signed over the nonce; the server accepts each nonce once and
 * before it expires, times the tunnel itself, and checks the claims. A device that fails
 * is flagged and kept off the market until a later benchmark passes.
 */

/** The challenge for this heartbeat, or undefined when none is due (or one is outstanding). */
export async function benchmarkChallengeFor(
  ctx: DomainContext,
  device: DeviceRow,
  rented: boolean,
): Promise<BenchmarkChallenge | undefined> {
  const settings = ctx.settings.benchmark;
  // Online: the server times the tunnel as part of the benchmark.
  if (!settings || settings.intervalMs <= 0 || rented || !device.hardware || !ctx.tunnels.isOnline(device.id)) return undefined;
  const now = ctx.clock.now();
  const latest = await latestBenchmark(ctx.db, device.id);
  if (latest) {
    const outstanding = latest.answered_at === null && Date.parse(latest.expires_at) > now.getTime();
    if (outstanding) return undefined;
    // A flagged device may try again sooner: once an interval from its last try would keep a fixed device off for a week.
    const every = device.hardware_flag ? Math.min(settings.intervalMs, settings.challengeTtlMs * 6) : settings.intervalMs;
    // An offer changed since the last verdict is checked at once: raising it must not wait a week.
    const due = now.getTime() - Date.parse(latest.answered_at ?? latest.issued_at) >= every || !verdictCovers(device);
    if (latest.answered_at !== null && !due) return undefined;
  }
  const nonce = randomBytes(32).toString('hex');
  const expiresAt = new Date(now.getTime() + settings.challengeTtlMs).toISOString();
  await insertBenchmarkChallenge(ctx.db, { nonce, device_id: device.id, issued_at: now.toISOString(), expires_at: expiresAt });
  const claim = claimOf(device);
  return { nonce, expiresAt, memoryProbeBytes: Math.min(claim.memoryBytes, settings.memoryProbeMaxBytes) };
}

/**
 * What the device is held to: what it is sold on, the owner's offer (cores, memory, disk,
 * bandwidth; the default offer until the owner chooses one), which the market shows and
 * which can never exceed the hardware the device reports. `offer` overrides it.
 */
export function claimOf(device: DeviceRow, offer?: Partial<HardwareClaim>): HardwareClaim {
  const hw = JSON.parse(device.hardware ?? 'null') as Hardware | null;
  const sold = hw ? effectiveOffer(hw, device.offer) : null;
  return {
    cores: offer?.cores ?? sold?.cores ?? 1,
    memoryBytes: offer?.memoryBytes ?? sold?.memoryBytes ?? 0,
    diskBytes: offer?.diskBytes ?? sold?.diskBytes ?? 0,
    bandwidthMbit: offer?.bandwidthMbit ?? sold?.bandwidthMbit ?? null,
  };
}

/**
 * Takes a device's answer to its challenge: refused unless the nonce is this device's,
 * unexpired and unanswered, and the figures carry the device key's signature over it. The
 * verdict flags or clears the device.
 */
export async function acceptBenchmark(
  ctx: DomainContext,
  deviceId: string,
  body: BenchmarkResultBody,
  offer?: Partial<HardwareClaim>,
): Promise<HardwareVerification> {
  const settings = ctx.settings.benchmark;
  const challenge = await findBenchmark(ctx.db, body.nonce);
  const device = await findDevice(ctx.db, deviceId);
  if (!settings || !device?.public_key || !challenge || challenge.device_id !== deviceId) throw new DomainError('benchmark_nonce_unknown');
  if (challenge.answered_at !== null) throw new DomainError('benchmark_nonce_used');
  if (Date.parse(challenge.expires_at) <= ctx.clock.now().getTime()) throw new DomainError('benchmark_nonce_unknown');
  const key = ed25519KeyFromOpenSsh(device.public_key);
  const signed = benchmarkSigningText(deviceId, body.nonce, body.figures);
  if (!key || !verifyDeviceSignature(key, signed, Buffer.from(body.signature, 'base64url')))
    throw new DomainError('benchmark_signature_invalid');

  const tunnelMbit = (await ctx.tunnels.measureThroughput?.(deviceId, body.nonce)) ?? null;
  const claim = claimOf(device, offer);
  const now = ctx.clock.now().toISOString();
  const verification = checkClaims(
    deviceId,
    claim,
    { figures: body.figures, memoryProbeBytes: Math.min(claim.memoryBytes, settings.memoryProbeMaxBytes), tunnelMbit },
    settings.tolerancePercent,
    now,
  );
  const stored = JSON.stringify(verification);
  const first = await answerBenchmark(ctx.db, body.nonce, {
    answered_at: now,
    figures: JSON.stringify(body.figures),
    signature: body.signature,
    verification: stored,
  });
  if (!first) throw new DomainError('benchmark_nonce_used');
  const flag = hardwareFlag(verification);
  await updateDevice(ctx.db, deviceId, { hardware_flag: flag, hardware_verification: stored });
  if (flag && !device.hardware_flag) await queueHardwareFlagged(ctx, deviceId, body.nonce, verification.reasons);
  if (flag !== (device.hardware_flag ?? null)) ctx.notifyDevice(deviceId, flag ? 'hardware flagged' : 'hardware verified');
  return verification;
}

/** The last verdict, as the market and the owner see it. */
/** Whether the last verdict judged what the device is sold on now (its offer unchanged since). */
function verdictCovers(device: DeviceRow): boolean {
  const v = verificationOf(device);
  if (!v) return true; // nothing to compare with: the interval decides
  const claim = claimOf(device);
  return (
    v.cores.claimed === claim.cores &&
    v.memoryBytes.claimed === claim.memoryBytes &&
    v.diskBytes.claimed === claim.diskBytes &&
    v.bandwidthMbit.claimed === claim.bandwidthMbit
  );
}
