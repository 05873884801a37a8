import { ApiError } from '@p2pvps/protocol/route-client';
import { errorCodes } from '@p2pvps/protocol/errors';

/**
 * What the agent makes of a refused call to its server. Only an explicit revocation, in
 * the server's own envelope, may ever lead to a wipe (and only once confirmed, agent.ts);
 * a wrong clock or a replay is corrected and tried again; anything else (a proxy's 401, a
 * body that is not our envelope, a bad signature) is waited out like an unreachable server.
 */
export type Refusal =
  | { kind: 'revoked' }
  | { kind: 'clock_skew'; serverTime: number }
  | { kind: 'replay'; lastTs: number }
  | { kind: 'signature'; code: string; message: string }
  | { kind: 'other' };

/** True for an error in our server's envelope: a code it has, with that code's own HTTP status. */
export function fromOwnServer(err: unknown): err is ApiError {
  if (!(err instanceof ApiError)) return false;
  const known = (errorCodes as Record<string, { status: number } | undefined>)[err.code];
  return known !== undefined && known.status === err.status;
}

export function classifyRefusal(err: unknown): Refusal {
  if (!fromOwnServer(err)) return { kind: 'other' };
  switch (err.code) {
    case 'device_revoked':
      return { kind: 'revoked' };
    case 'device_clock_skew': {
      const serverTime = Date.parse(err.detail ?? '');
      return Number.isFinite(serverTime) ? { kind: 'clock_skew', serverTime } : { kind: 'other' };
    }
    case 'device_replay': {
      const lastTs = Number(err.detail);
      return Number.isSafeInteger(lastTs) ? { kind: 'replay', lastTs } : { kind: 'other' };
    }
    case 'device_auth_failed':
    case 'device_agent_outdated':
      return { kind: 'signature', code: err.code, message: err.message };
    default:
      return { kind: 'other' };
  }
}
