import type { EndReason, RentalState } from '@p2pvps/protocol/schemas';

/**
 * The life of a rental:
 *
 *   requested ──container_ready──▶ active
 *       │                            │
 *       ├──end(reason)──▶ ending ◀───┘ end(reason)
 *       │                  │
 *       │               wiped (the agent reports no container for it)
 *       ▼                  ▼
 *     ended ◀──────────────┘
 *
 * `requested` can end straight away only when nothing ever ran (the agent could not
 * start the container). A rental holds its device until it is `ended`, so a device is
 * listed again only after its agent has confirmed the wipe.
 */
export type RentalEvent = { type: 'container_ready' } | { type: 'end'; reason: EndReason } | { type: 'wiped' };

export class InvalidRentalTransition extends Error {
  constructor(
    readonly from: RentalState,
    readonly event: RentalEvent['type'],
  ) {
    super(`a rental in state ${from} cannot take event ${event}`);
  }
}

const transitions: Record<RentalState, Partial<Record<RentalEvent['type'], RentalState>>> = {
  requested: { container_ready: 'active', end: 'ending' },
  active: { end: 'ending' },
  ending: { wiped: 'ended' },
  ended: {},
};

export function nextRentalState(from: RentalState, event: RentalEvent): RentalState {
  const to = transitions[from][event.type];
  if (!to) throw new InvalidRentalTransition(from, event.type);
  return to;
}

export function canTake(from: RentalState, event: RentalEvent['type']): boolean {
  return transitions[from][event] !== undefined;
}

/** Open rentals hold their device; the agent should be running a container for these two. */
export const runningStates: readonly RentalState[] = ['requested', 'active'];
