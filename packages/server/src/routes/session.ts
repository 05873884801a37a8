import { routes } from '@p2pvps/protocol/routes';
import type { FastifyInstance } from 'fastify';
import { changePassword, logout } from '../domain/accounts/accounts.ts';
import { addSshKey, listApiTokens, listSshKeys, makeApiToken, removeSshKey, revokeApiToken } from '../domain/accounts/keys-and-tokens.ts';
import { csrfTokenOf, listSessions, revokeSession, sessionCookie, sessionSetCookie, startSession } from '../domain/accounts/sessions.ts';
import { resendEmailVerification, verifyEmail } from '../domain/accounts/email-verification.ts';
import type { DomainContext } from '../domain/context.ts';
import { DomainError } from '../domain/errors.ts';
import type { AuthThrottle } from './auth-throttle.ts';
import { mount, type Authenticator } from './register.ts';

/** The dashboard's account routes: browser sessions, password, API tokens, saved SSH keys. */
export function sessionRoutes(app: FastifyInstance, auth: Authenticator, ctx: DomainContext, throttle: AuthThrottle): void {
  const me = (c: { user?: { user: { id: string } } }) => c.user!.user.id;
  mount(app, auth, routes.startSession, async ({ body }, _c, req, reply) => {
    const start = () => startSession(ctx, body, String(req.headers['user-agent'] ?? ''));
    const session = await (body.signup ? throttle.signup(req.ip, start) : throttle.login(req.ip, body.email, start));
    reply.header('set-cookie', sessionSetCookie(ctx, session.token));
    return { user: session.user, csrfToken: session.csrfToken };
  });
  mount(app, auth, routes.getSession, async (_input, c, req) => {
    const token = c.user!.via === 'session' ? sessionCookie(ctx, req.headers.cookie) : undefined;
    if (!token) throw new DomainError('unauthenticated', 'This route is for browser sessions; API tokens need no CSRF token.');
    return { user: c.user!.user, csrfToken: csrfTokenOf(token) };
  });
  mount(app, auth, routes.endSession, async (_input, c, _req, reply) => {
    await logout(ctx, c.user!.tokenId);
    reply.header('set-cookie', sessionSetCookie(ctx, null));
    return { ok: true as const };
  });
  mount(app, auth, routes.changePassword, async ({ body }, c, req) => {
    // Checking the current password is a login attempt too (a stolen session must not guess it freely).
    await throttle.login(req.ip, c.user!.user.email, () => changePassword(ctx, c.user!, body.currentPassword, body.newPassword));
    return { ok: true as const };
  });
  mount(app, auth, routes.listApiTokens, async (_input, c) => ({ tokens: await listApiTokens(ctx, c.user!) }));
  mount(app, auth, routes.createApiToken, ({ body }, c) => makeApiToken(ctx, me(c), body.name));
  mount(app, auth, routes.revokeApiToken, async ({ params }, c) => {
    await revokeApiToken(ctx, me(c), params.tokenId);
    return { ok: true as const };
  });
  mount(app, auth, routes.verifyEmail, ({ body }) => verifyEmail(ctx, body.token));
  mount(app, auth, routes.resendEmailVerification, async (_input, c) => {
    await resendEmailVerification(ctx, me(c));
    return { ok: true as const };
  });
  mount(app, auth, routes.listSessions, async (_input, c) => ({ sessions: await listSessions(ctx, c.user!) }));
  mount(app, auth, routes.revokeSession, async ({ params }, c) => {
    await revokeSession(ctx, me(c), params.sessionId);
    return { ok: true as const };
  });
  mount(app, auth, routes.listSshKeys, async (_input, c) => ({ keys: await listSshKeys(ctx, me(c)) }));
  mount(app, auth, routes.addSshKey, ({ body }, c) => addSshKey(ctx, me(c), body.name, body.publicKey));
  mount(app, auth, routes.removeSshKey, async ({ params }, c) => {
    await removeSshKey(ctx, me(c), params.keyId);
    return { ok: true as const };
  });
}
