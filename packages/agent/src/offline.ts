import { timing } from '@p2pvps/protocol/timing';
import type { AgentState } from './state.ts';

/**
 * The device side of the offline rules (timing.ts holds the numbers both sides use).
 * Losing the server never ends a rental on the device at once; an active rental's
 * container and data are kept for `dataKeepMs` after the agent last heard from the
 * server, so a renter whose device or server was briefly away logs in to find everything
 * as it was. Past that the agent gives the rental up and wipes.
 */
export function unreachableTooLong(
  state: Pick<AgentState, 'rental' | 'lastServerContactAt'>,
  now: number,
  dataKeepMs: number = timing.dataKeepMs,
): boolean {
  if (!state.rental || !state.lastServerContactAt) return false;
  return now - Date.parse(state.lastServerContactAt) >= dataKeepMs;
}

/** The sentence the owner and the server get when a rental is given up for that reason. */
export function unreachableDetail(dataKeepMs: number = timing.dataKeepMs): string {
  const hours = Math.round((dataKeepMs / 3_600_000) * 10) / 10;
  return `The device could not reach the server for ${hours} hours, so it destroyed the rental's container and wiped its storage.`;
}
