import type { HeartbeatBody } from '@p2pvps/protocol/agent-schemas';
import { timing } from '@p2pvps/protocol/timing';
/** The agent's log (agent.ts). */
type AgentLog = (level: 'error' | 'warn' | 'info' | 'debug', msg: string) => void;
import { sendOverFreshConnection, serverApi } from './server-http.ts';
import type { SigningClock } from './identity.ts';
import { classifyRefusal, type Refusal } from './server-refusals.ts';

/**
 * How far the agent trusts what its server says: timings within bounds, the server's time
 * for signing, and a revocation only once the server has said it three times.
 */

/** How often the agent heartbeats, whatever the server says: never a tight loop, never silent for hours. */
export function heartbeatIntervalWithin(fromServer: number): number {
  return Number.isFinite(fromServer) ? Math.min(Math.max(fromServer, 1_000), 60 * 60_000) : timing.heartbeatIntervalMs;
}

/**
 * A wrong clock or a replay refusal: sign with what the server said. True when the next
 * signature will differ, so trying again at once is worth it.
 */
export function correctSigning(clock: SigningClock, refusal: Refusal, log: AgentLog): boolean {
  if (refusal.kind === 'clock_skew') {
    clock.learnServerTime(refusal.serverTime, 0);
    log(
      'warn',
      `this device's clock is ${Math.round(-clock.offset / 1000)} s off the server's; signing with the server's time (is NTP running?)`,
    );
    return true;
  }
  if (refusal.kind === 'replay') {
    clock.raiseFloor(refusal.lastTs);
    return true;
  }
  return false;
}

export interface RevocationCheck {
  serverUrl: string;
  sign: ((method: string, path: string, body: string) => string) | undefined;
  /** What the agent would heartbeat now: the questions are real heartbeats. */
  body: () => HeartbeatBody;
  delayMs: number;
  closed: () => boolean;
  log: AgentLog;
}

/**
 * The server said it no longer knows this key. Before anything is wiped it is asked twice
 * more, spaced out, each time with a fresh signature over a connection of its own: a
 * renter's files go only on a revocation the server stands by.
 */
export async function confirmRevocation(o: RevocationCheck): Promise<boolean> {
  o.log('warn', 'the server says it no longer knows this device key; asking again before acting on it');
  for (let ask = 0; ask < 2; ask++) {
    await new Promise((r) => setTimeout(r, o.delayMs));
    if (o.closed() || !o.sign) return false;
    const api = serverApi({ baseUrl: o.serverUrl, signDevice: o.sign }, sendOverFreshConnection);
    try {
      await api.call('agentHeartbeat', { body: o.body() });
      o.log('info', 'the server accepts this device key after all; carrying on');
      return false;
    } catch (err) {
      if (classifyRefusal(err).kind !== 'revoked') {
        o.log('info', `not confirmed (${(err as Error).message}); the rental and its data stay`);
        return false;
      }
    }
  }
  return true;
}

/** `offset` (server minus device, ms) in words. */
export function clockDifference(offset: number): string {
  const seconds = Math.round(Math.abs(offset) / 1000);
  return `this device's clock is ${seconds} s ${offset > 0 ? 'behind' : 'ahead of'} the server's`;
}

/** What the owner must check when the server refuses the device's signature itself. */
export function signatureRefused(refusal: Refusal, serverUrl: string): string {
  const why = refusal.kind === 'signature' ? `[${refusal.code}]: ${refusal.message}` : '';
  return (
    `the server refused this device's signature ${why} ` +
    `Check that serverUrl (${serverUrl}) is the server's public URL exactly as the install command gives it, and that the agent is up to date; ` +
    'the rental and its data stay while the agent retries.'
  );
}
