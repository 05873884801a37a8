import type { FrontDoorLimits } from '../frontdoor/front-doors.ts';

/**
 * Front-door limits for tests: generous deadlines, every connection cap at `caps`, and a
 * test's own overrides on top, so each test names only the limit it is about.
 */
export function frontDoorTestLimits(caps: number, overrides: Partial<FrontDoorLimits> = {}): FrontDoorLimits {
  return {
    maxHeadBytes: 16 * 1024,
    headTimeoutMs: 10_000,
    idleTimeoutMs: 60_000,
    maxConnections: caps,
    maxConnectionsPerDevice: caps,
    maxConnectionsPerAddress: caps,
    maxConnectionsPerDeviceAddress: caps,
    minBodyBytes: 1,
    ...overrides,
  };
}
