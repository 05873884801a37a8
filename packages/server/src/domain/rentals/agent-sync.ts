import type { HeartbeatBody, HeartbeatReply } from '@p2pvps/protocol/agent-schemas';
import type { Hardware, RentalState } from '@p2pvps/protocol/schemas';
import { agentProtocol } from '@p2pvps/protocol/version';
import { findDevice, updateDevice } from '../../db/devices-repo.ts';
import { findOpenRentalForDevice, updateRental, updateRentalFrom, type RentalRow } from '../../db/rentals-repo.ts';
import type { DomainContext } from '../context.ts';
import { effectiveOffer } from '../devices/offer.ts';
import { DomainError } from '../errors.ts';
import { benchmarkChallengeFor } from '../devices/benchmarks.ts';
import { endRental } from './ending.ts';
import { nextRentalState, runningStates } from './rental-state.ts';
import { recordRentalEvent } from './rental-log.ts';
import { applyStorageLock } from './encrypted-storage.ts';
import { desired } from './desired-rental.ts';
import { webHost } from '../devices/devices.ts';

/**
 * Agents before protocol 2 need the renter's password in clear, which the server no longer
 * sends to any device. Refused with the code agents already log as "update me"; such an agent
 * keeps a running container as it is (a refusal is waited out like an unreachable server).
 */
export function refuseOutdatedAgent(body: HeartbeatBody): void {
  if ((body.agentProtocol ?? 1) < agentProtocol)
    throw new DomainError(
      'device_agent_outdated',
      'This agent expects rental passwords in clear, which the server no longer sends to devices; update it (run the install command again).',
    );
}

/**
 * One heartbeat: the agent reports what it runs, the server moves the rental along, and
 * replies with what the agent should run. The agent converges on the reply, so a missed
 * message is repaired by the next heartbeat.
 */
export async function syncDevice(
  ctx: DomainContext,
  deviceId: string,
  body: HeartbeatBody,
  /** Called when the heartbeat changed something the owner or renter sees (not for one that only says "still here"). */
  onVisibleChange?: () => void,
): Promise<HeartbeatReply> {
  const now = ctx.clock.now();
  const before = await findDevice(ctx.db, deviceId);
  const hardware = body.hardware ? JSON.stringify(body.hardware) : undefined;
  const heard = {
    last_heartbeat_at: now.toISOString(),
    ...(hardware ? { hardware } : {}),
    ...(body.storageFault !== undefined ? { storage_fault: body.storageFault } : {}),
  };
  await updateDevice(ctx.db, deviceId, heard);
  let rental = await findOpenRentalForDevice(ctx.db, deviceId);
  const rentalBefore = rental ? `${rental.id}:${rental.state}:${rental.app_state ?? ''}` : null;
  if (rental) rental = await applyObservation(ctx, rental, body, now);
  // No open rental, nothing locked (an old agent, which says nothing, leaves it as it was).
  const lock = rental || body.storageLock === undefined ? body.storageLock : null;
  const lockChanged = await applyStorageLock(ctx, deviceId, before?.storage_locked, lock);
  const changed =
    lockChanged ||
    !before ||
    before.last_heartbeat_at === null ||
    (hardware !== undefined && hardware !== before.hardware) ||
    (body.storageFault !== undefined && body.storageFault !== before.storage_fault) ||
    (rental ? `${rental.id}:${rental.state}:${rental.app_state ?? ''}` : null) !== rentalBefore;
  if (changed) onVisibleChange?.();
  // Verified hardware: an idle device is asked to measure itself (never while it holds a rental).
  const benchmark = before ? await benchmarkChallengeFor(ctx, { ...before, ...heard }, rental !== undefined) : undefined;
  const knownHardware = hardware ?? before?.hardware;
  return {
    // The next rental's offer: an idle agent sizes its clean storage for it ahead of the rent.
    ...(knownHardware ? { offer: effectiveOffer(JSON.parse(knownHardware) as Hardware, before?.offer) } : {}),
    rental:
      rental && runningStates.includes(rental.state as RentalState) ? desired(ctx, rental, webHost(ctx, before?.web_name ?? '')) : null,
    heartbeatIntervalMs: ctx.settings.heartbeatIntervalMs,
    serverTime: now.toISOString(),
    ...(benchmark ? { benchmark } : {}),
  };
}

async function applyObservation(ctx: DomainContext, rental: RentalRow, body: HeartbeatBody, now: Date): Promise<RentalRow | undefined> {
  const observed = body.container?.rentalId === rental.id ? body.container : null;
  const state = rental.state as RentalState;
  // The package's progress and log, for the rental view; kept once the rental ends, so the renter can read why.
  if (observed?.app && rental.app && (observed.app.state !== rental.app_state || observed.app.log !== rental.app_log))
    await updateRental(ctx.db, rental.id, { app_state: observed.app.state, app_log: observed.app.log });
  if (state === 'requested' && observed?.state === 'ready') {
    const expiresAt = rental.hours ? new Date(now.getTime() + rental.hours * 3_600_000).toISOString() : null;
    const to = nextRentalState(state, { type: 'container_ready' });
    const activated = await updateRentalFrom(ctx.db, rental.id, state, {
      state: to,
      activated_at: now.toISOString(),
      expires_at: expiresAt,
      // The meter starts when the renter can log in.
      billed_until: now.toISOString(),
    });
    if (activated) {
      await recordRentalEvent(ctx.db, rental.id, 'container_started', now.toISOString());
      ctx.notifyRental?.(rental.id, 'active');
    }
  } else if (runningStates.includes(state) && observed?.state === 'failed' && observed.app?.state === 'failed') {
    // The package did not install or start: the renter's recipe or settings, not the device, so no
    // incident on its record; nothing was billed (the meter starts when the package is healthy).
    await endRental(ctx, rental, 'app_failed', observed.detail ?? null);
  } else if (runningStates.includes(state) && observed?.state === 'failed') {
    // Before it ran, the device could not start it; after, the device lost it (say, it wiped the
    // rental after being cut off from the server past its data-keeping limit).
    await endRental(ctx, rental, state === 'active' ? 'device_lost' : 'provisioning_failed', observed.detail ?? null);
  } else if (state === 'ending' && !observed) {
    // The agent runs nothing for this rental any more: its container is gone and wiped.
    const to = nextRentalState(state, { type: 'wiped' });
    const wiped = await updateRentalFrom(ctx.db, rental.id, state, { state: to, ended_at: now.toISOString(), open_device_id: null });
    if (wiped) await recordRentalEvent(ctx.db, rental.id, 'container_removed', now.toISOString());
  }
  return findOpenRentalForDevice(ctx.db, rental.device_id);
}
