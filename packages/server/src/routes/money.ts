import { routes } from '@p2pvps/protocol/routes';
import type { FastifyInstance } from 'fastify';
import { findUserByEmail } from '../db/accounts-repo.ts';
import type { DomainContext } from '../domain/context.ts';
import { DomainError } from '../domain/errors.ts';
import { grantCredit } from '../domain/money/credit.ts';
import { balanceOf, statementOf } from '../domain/money/ledger.ts';
import { mount, type Authenticator } from './register.ts';

export function moneyRoutes(app: FastifyInstance, auth: Authenticator, ctx: DomainContext): void {
  const me = (c: { user?: { user: { id: string } } }) => c.user!.user.id;
  const currency = ctx.settings.currency;
  mount(app, auth, routes.getBalance, async (_input, c) => ({
    currency,
    balanceMicros: Number(await balanceOf(ctx.db, { kind: 'renter_balance', userId: me(c) })),
    earningsMicros: Number(await balanceOf(ctx.db, { kind: 'owner_earnings', userId: me(c) })),
  }));
  mount(app, auth, routes.getStatement, async (_input, c) => ({
    currency,
    lines: (await statementOf(ctx.db, me(c))).map((l) => ({
      ...l,
      account: l.account as 'renter_balance' | 'owner_earnings' | 'payouts_pending',
      amountMicros: Number(l.amountMicros),
    })),
  }));
  mount(app, auth, routes.adminCredit, async ({ body }) => {
    const user = await findUserByEmail(ctx.db, body.email.toLowerCase());
    if (!user) throw new DomainError('not_found', `There is no account for ${body.email}.`);
    const balance = await grantCredit(ctx, user.id, BigInt(body.amountMicros), body.memo ?? '');
    return { email: user.email, balanceMicros: Number(balance) };
  });
}
