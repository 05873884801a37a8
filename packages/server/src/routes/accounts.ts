import { routes } from '@p2pvps/protocol/routes';
import type { FastifyInstance } from 'fastify';
import { login, logout, signup } from '../domain/accounts/accounts.ts';
import type { DomainContext } from '../domain/context.ts';
import type { AuthThrottle } from './auth-throttle.ts';
import { mount, type Authenticator } from './register.ts';

export function accountRoutes(app: FastifyInstance, auth: Authenticator, ctx: DomainContext, throttle: AuthThrottle): void {
  mount(app, auth, routes.signup, ({ body }, _c, req) => throttle.signup(req.ip, () => signup(ctx, body.email, body.password)));
  mount(app, auth, routes.login, ({ body }, _c, req) => throttle.login(req.ip, body.email, () => login(ctx, body.email, body.password)));
  mount(app, auth, routes.logout, async (_, caller) => {
    await logout(ctx, caller.user!.tokenId);
    return { ok: true as const };
  });
  mount(app, auth, routes.me, async (_, caller) => caller.user!.user);
}
