import { routes } from '@p2pvps/protocol/routes';
import type { FastifyInstance } from 'fastify';
import { listMail } from '../db/mail-repo.ts';
import { getSettings, updateSettings } from '../domain/accounts/settings.ts';
import type { DomainContext } from '../domain/context.ts';
import { mount, type Authenticator } from './register.ts';

/** The account's mail settings, and the operator's outbox. */
export function mailRoutes(app: FastifyInstance, auth: Authenticator, ctx: DomainContext, delivery: 'smtp' | 'outbox'): void {
  mount(app, auth, routes.getSettings, (_input, c) => getSettings(ctx, c.user!.user.id));
  mount(app, auth, routes.updateSettings, ({ body }, c) =>
    updateSettings(ctx, c.user!.user.id, body.emailRentalPassword === undefined ? {} : { emailRentalPassword: body.emailRentalPassword }),
  );
  mount(app, auth, routes.adminOutbox, async ({ query }) => ({
    delivery,
    mails: (await listMail(ctx.db, { ...(query.state ? { state: query.state } : {}), limit: query.limit ?? 100 })).map((m) => ({
      id: m.id,
      kind: m.kind,
      to: m.to_address,
      subject: m.subject,
      text: m.text_body,
      state: m.state,
      attempts: m.attempts,
      lastError: m.last_error,
      createdAt: m.created_at,
      sentAt: m.sent_at,
    })),
  }));
}
