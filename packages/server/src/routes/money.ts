import { Readable } from 'node:stream';
import { routes, statementCsvPath } from '@p2pvps/protocol/routes';
import type { FastifyInstance } from 'fastify';
import { findUserByEmail } from '../db/accounts-repo.ts';
import type { DomainContext } from '../domain/context.ts';
import { DomainError } from '../domain/errors.ts';
import { grantCredit } from '../domain/money/credit.ts';
import { balanceOf } from '../domain/money/ledger.ts';
import { statementCsv, statementPage } from '../domain/money/statement.ts';
import { cancelPayout, earningsOf, markPayoutPaid, requestPayout, startPayout } from '../domain/money/payouts.ts';
import { mount, type Authenticator } from './register.ts';
import { ledgerTotal, ledgerTotals } from '../db/ledger-repo.ts';
import { listPayouts, type PayoutRow } from '../db/payouts-repo.ts';

export function moneyRoutes(app: FastifyInstance, auth: Authenticator, ctx: DomainContext): void {
  const me = (c: { user?: { user: { id: string } } }) => c.user!.user.id;
  const currency = ctx.settings.currency;
  mount(app, auth, routes.getBalance, async (_input, c) => ({
    currency,
    balanceMicros: Number(await balanceOf(ctx.db, { kind: 'renter_balance', userId: me(c) })),
    earningsMicros: Number(await balanceOf(ctx.db, { kind: 'owner_earnings', userId: me(c) })),
  }));
  mount(app, auth, routes.getStatement, async ({ query }, c) => {
    const page = await statementPage(ctx, me(c), query);
    return { currency, lines: page.items, next: page.next };
  });
  // The whole statement as a CSV download (dashboard and CLI), streamed page by page.
  app.get(statementCsvPath, async (req, reply) => {
    const user = await auth.user(req);
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', 'attachment; filename="p2pvps-statement.csv"')
      .header('cache-control', 'no-store')
      .send(Readable.from(statementCsv(ctx, user.user.id)));
  });
  mount(app, auth, routes.adminCredit, async ({ body }) => {
    const user = await findUserByEmail(ctx.db, body.email.toLowerCase());
    if (!user) throw new DomainError('not_found', `There is no account for ${body.email}.`);
    const balance = await grantCredit(ctx, user.id, BigInt(body.amountMicros), body.memo ?? '');
    return { email: user.email, balanceMicros: Number(balance) };
  });

  const payout = (p: PayoutRow, email: string) => ({
    id: p.id,
    email,
    amountMicros: Number(p.amount_micros),
    currency,
    state: p.state,
    destination: p.destination,
    rail: p.rail,
    reference: p.reference,
    requestedAt: p.requested_at,
    startedAt: p.started_at,
    settledAt: p.settled_at,
  });
  const email = (c: { user?: { user: { email: string } } }) => c.user!.user.email;
  const payoutWithEmail = async (p: PayoutRow) => payout(p, (await listPayouts(ctx.db, { userId: p.user_id }))[0]?.email ?? '');
  mount(app, auth, routes.getEarnings, async (_input, c) => {
    const e = await earningsOf(ctx, me(c));
    return {
      currency,
      availableMicros: Number(e.availableMicros),
      pendingPayoutMicros: Number(e.pendingPayoutMicros),
      paidOutMicros: Number(e.paidOutMicros),
      devices: e.devices.map((d) => ({ ...d, earnedMicros: Number(d.earnedMicros) })),
      rentals: e.rentals.map((r) => ({
        ...r,
        state: r.state as 'requested' | 'active' | 'ending' | 'ended',
        chargedMicros: Number(r.chargedMicros),
        feeMicros: Number(r.feeMicros),
        earnedMicros: Number(r.earnedMicros),
      })),
    };
  });
  mount(app, auth, routes.listPayouts, async (_input, c) => ({
    payouts: (await listPayouts(ctx.db, { userId: me(c) })).map((p) => payout(p, p.email)),
  }));
  mount(app, auth, routes.requestPayout, async ({ body }, c) =>
    payout(await requestPayout(ctx, me(c), BigInt(body.amountMicros), body.destination), email(c)),
  );
  mount(app, auth, routes.cancelPayout, async ({ params }, c) => payout(await cancelPayout(ctx, params.payoutId, me(c)), email(c)));
  mount(app, auth, routes.adminPayouts, async ({ query }) => ({
    payouts: (await listPayouts(ctx.db, { state: query.state })).map((p) => payout(p, p.email)),
  }));
  mount(app, auth, routes.adminStartPayout, async ({ params }) => payoutWithEmail(await startPayout(ctx, params.payoutId)));
  mount(app, auth, routes.adminPayoutPaid, async ({ params, body }) =>
    payoutWithEmail(await markPayoutPaid(ctx, params.payoutId, body.rail, body.reference)),
  );
  mount(app, auth, routes.adminCancelPayout, async ({ params }) => payoutWithEmail(await cancelPayout(ctx, params.payoutId)));
  mount(app, auth, routes.adminLedger, async () => ({
    currency,
    accounts: (await ledgerTotals(ctx.db)).map((a) => ({ ...a, balanceMicros: Number(a.balanceMicros) })),
    totalMicros: Number(await ledgerTotal(ctx.db)),
  }));
}
