import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SessionInfo, User } from '@p2pvps/protocol/schemas';
import type { DomainContext } from '../context.ts';
import { deleteDeadSessions, deleteUserSession, listUserSessions } from '../../db/accounts-repo.ts';
import { DomainError } from '../errors.ts';
import { checkPassword, createAccount, createApiToken, presentUser, sessionIdleMs, type AuthenticatedUser } from './accounts.ts';

/**
 * Browser sessions for the dashboard. A session is an API token of kind `session` that
 * lives in an HttpOnly, SameSite=Strict cookie, so page scripts never see it; it expires
 * after `sessionTtlMs`, or sooner when unused for `sessionIdleMs`. Requests that change anything must also carry the session's CSRF
 * token in `X-CSRF-Token`: derived from the session token, handed to the page by the API
 * (which another site cannot read), and checked in constant time.
 *
 * Renter sites are subdomains of the same site, so one of them could plant a session
 * cookie for a parent domain (cookie tossing) to log a visitor into the planter's account.
 * Over https the cookie is `__Host-` prefixed, which browsers only accept host-only, Secure
 * and on Path=/ — no other host can set it; and a request carrying two session cookies is
 * refused rather than guessing which one the browser meant.
 */
export const sessionTtlMs = 30 * 24 * 60 * 60_000;

/** The cookie's name: `__Host-` needs Secure, so only when the server is reached over https. */
export function sessionCookieName(ctx: DomainContext): string {
  return isHttps(ctx) ? '__Host-p2pvps_session' : 'p2pvps_session';
}

function isHttps(ctx: DomainContext): boolean {
  return ctx.settings.publicUrl.startsWith('https:');
}

export function csrfTokenOf(sessionToken: string): string {
  return createHmac('sha256', sessionToken).update('p2pvps csrf').digest('base64url');
}

export function csrfMatches(sessionToken: string, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string') return false;
  const want = Buffer.from(csrfTokenOf(sessionToken));
  const got = Buffer.from(header);
  return got.length === want.length && timingSafeEqual(got, want);
}

/** The session token from a Cookie header, if there is one; two session cookies are refused. */
export function sessionCookie(ctx: DomainContext, header: string | undefined): string | undefined {
  const name = sessionCookieName(ctx);
  const found: string[] = [];
  for (const part of header?.split(';') ?? []) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) found.push(value.join('='));
  }
  if (found.length > 1) {
    throw new DomainError(
      'unauthenticated',
      'This request carries more than one session cookie, so it is not clear whose session it is; ' +
        "clear this site's cookies and log in again.",
    );
  }
  return found[0] || undefined;
}

/** The Set-Cookie value for a session (or, with null, one that clears it). Secure when the server is reached over HTTPS. */
export function sessionSetCookie(ctx: DomainContext, token: string | null): string {
  const secure = isHttps(ctx) ? '; Secure' : '';
  const value = token ?? '';
  const age = token ? Math.floor(sessionTtlMs / 1000) : 0;
  return `${sessionCookieName(ctx)}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${age}${secure}`;
}

export interface StartedSession {
  token: string;
  user: User;
  csrfToken: string;
}

/** Logs a browser in (or signs a new user up and in). */
export async function startSession(
  ctx: DomainContext,
  body: { email: string; password: string; signup?: boolean },
  userAgent: string,
): Promise<StartedSession> {
  const row = body.signup ? await createAccount(ctx, body.email, body.password) : await checkPassword(ctx, body.email, body.password);
  const name = `browser: ${userAgent.slice(0, 80) || 'unknown'}`;
  const { token } = await createApiToken(ctx, row.id, name, { ttlMs: sessionTtlMs });
  return { token, user: presentUser(row), csrfToken: csrfTokenOf(token) };
}

/** What the page learns about its own session: who, and the CSRF token for its changes. */
export function describeSession(caller: AuthenticatedUser, sessionToken: string): { user: User; csrfToken: string } {
  return { user: caller.user, csrfToken: csrfTokenOf(sessionToken) };
}

/** The user's browser sessions still alive, each with when it ends (30 days after login, or a week after its last use). */
export async function listSessions(ctx: DomainContext, caller: AuthenticatedUser): Promise<SessionInfo[]> {
  const now = ctx.clock.now();
  const rows = await listUserSessions(ctx.db, caller.user.id, now.toISOString(), new Date(now.getTime() - sessionIdleMs).toISOString());
  return rows.map((r) => {
    const idleEnd = new Date(new Date(r.last_used_at ?? r.created_at).getTime() + sessionIdleMs).toISOString();
    return {
      id: r.id,
      name: r.name,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
      expiresAt: r.expires_at && r.expires_at < idleEnd ? r.expires_at : idleEnd,
      current: r.id === caller.tokenId,
    };
  });
}

/** Ends one of the user's browser sessions (another browser, or this one). */
export async function revokeSession(ctx: DomainContext, userId: string, sessionId: string): Promise<void> {
  if (!(await deleteUserSession(ctx.db, userId, sessionId))) throw new DomainError('not_found');
}

/** Deletes sessions that have ended (past 30 days, or idle a week); returns how many. */
export function purgeDeadSessions(ctx: DomainContext): Promise<number> {
  const now = ctx.clock.now();
  return deleteDeadSessions(ctx.db, now.toISOString(), new Date(now.getTime() - sessionIdleMs).toISOString());
}
