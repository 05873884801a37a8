import { errorCodes } from '@p2pvps/protocol/errors';
import { routes } from '@p2pvps/protocol/routes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DomainContext } from '../domain/context.ts';
import { DomainError } from '../domain/errors.ts';
import { formatMoney } from '../domain/money/money.ts';
import type { ChainRail, PaymentRails } from '../payments/payment-rails.ts';
import { RateUnavailable } from '../payments/exchange-rates.ts';
import { PayPalError } from '../payments/paypal/paypal-error.ts';
import { UnrepresentableAmount } from '../payments/paypal/money.ts';
import type { CompletionOutcome } from '../payments/paypal/rail.ts';
import { mount, type Authenticator } from './register.ts';

const disabled = (rail: string) =>
  new DomainError(
    'payment_rail_disabled',
    `This server does not take payments by ${rail}; GET /api/v1/topup (p2pvps topup) lists the ways it does.`,
  );

/** PayPal refused or could not be reached: the detail is for the operator's log, not the renter. */
function providerError(req: FastifyRequest, err: unknown): never {
  if (err instanceof PayPalError) {
    req.log.warn({ err }, 'PayPal request failed');
    throw new DomainError('payment_provider_unavailable', 'PayPal could not be reached or refused the request; try again in a minute.');
  }
  throw err;
}

/** The renter's browser lands on the return page: it gets a page, scripts (Accept: application/json) get JSON. */
function wantsHtml(req: FastifyRequest): boolean {
  const accept = req.headers.accept ?? '';
  return /text\/html/.test(accept) && !/application\/json/.test(accept);
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(reply: FastifyReply, status: number, title: string, text: string): FastifyReply {
  return reply
    .status(status)
    .type('text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .send(
      `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
        `<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>\n`,
    );
}

/** Top-ups through the enabled payment rails (routes for a rail that is off answer payment_rail_disabled). */
export function topUpRoutes(app: FastifyInstance, auth: Authenticator, ctx: DomainContext, rails: PaymentRails | undefined): void {
  const me = (c: { user?: { user: { id: string } } }) => c.user!.user.id;
  const currency = ctx.settings.currency;

  mount(app, auth, routes.topUpRails, async () => ({ currency, rails: (await rails?.describe()) ?? [{ name: 'operator' as const }] }));

  mount(app, auth, routes.startPayPalTopUp, async ({ body }, c, req) => {
    const paypal = rails?.paypal;
    if (!paypal) throw disabled('PayPal');
    try {
      const topUp = await paypal.startTopUp(me(c), BigInt(body.amountMicros));
      return { orderId: topUp.orderId, approveUrl: topUp.approveUrl, amountMicros: body.amountMicros, currency };
    } catch (err) {
      if (err instanceof UnrepresentableAmount) {
        throw new DomainError('invalid_request', err.message, { 'body.amountMicros': err.message });
      }
      return providerError(req, err);
    }
  });

  mount(app, auth, routes.completePayPalTopUp, async ({ query }, _c, req, reply) => {
    const html = wantsHtml(req);
    try {
      const paypal = rails?.paypal;
      if (!paypal) throw disabled('PayPal');
      let outcome: CompletionOutcome;
      try {
        outcome = await paypal.complete(query.token, req.ip);
      } catch (err) {
        return providerError(req, err);
      }
      if (outcome.status === 'throttled') throw new DomainError('payment_requests_throttled', outcome.message);
      if (outcome.status === 'not_approved') throw new DomainError('payment_not_approved', outcome.message);
      if (outcome.status === 'not_completed') throw new DomainError('payment_not_completed', outcome.message);
      if (outcome.status === 'ignored') throw new DomainError('not_found', 'This PayPal order is not a top-up of this marketplace.');
      const { event } = outcome;
      const result = { status: outcome.status, amountMicros: Number(event.amountMicros), currency, reference: event.reference };
      if (!html) return result;
      const amount = formatMoney(event.amountMicros, currency);
      return page(
        reply,
        200,
        'Payment received',
        outcome.status === 'credited'
          ? `Thank you: ${amount} has been added to your balance (${event.reference}). You can close this page.`
          : `This payment (${amount}, ${event.reference}) is already on your balance. You can close this page.`,
      ) as never;
    } catch (err) {
      if (!html || !(err instanceof DomainError)) throw err;
      return page(reply, errorCodes[err.code].status, 'Payment not credited', err.message) as never;
    }
  });

  // PayPal signs the raw body: the API's JSON parser keeps it (req.rawBody) for exactly this kind of check.
  mount(app, auth, routes.payPalWebhook, async (_input, _c, req) => {
    const paypal = rails?.paypal;
    if (!paypal) throw disabled('PayPal');
    let outcome;
    try {
      outcome = await paypal.handleWebhook(req.headers, req.rawBody ?? '', req.ip);
    } catch (err) {
      // 5xx: PayPal delivers again later.
      return providerError(req, err);
    }
    // 429: PayPal delivers again later too.
    if (outcome.status === 'throttled') throw new DomainError('payment_requests_throttled', outcome.message);
    if (outcome.status === 'rejected') {
      req.log.warn({ webhookId: _input.body.id }, 'PayPal webhook rejected: not verifiably from PayPal');
      throw new DomainError('webhook_rejected', outcome.message);
    }
    if (outcome.status === 'ignored') req.log.info({ reason: outcome.reason }, 'PayPal webhook needs no action');
    return { status: outcome.status };
  });

  const depositAddress = (rail: ChainRail, name: string) => async (_input: unknown, c: { user?: { user: { id: string } } }) => {
    if (!rails?.isEnabled(rail)) throw disabled(name);
    try {
      return await rails.depositAddress(rail, me(c));
    } catch (err) {
      if (err instanceof RateUnavailable) throw new DomainError('exchange_rate_unavailable', err.message);
      throw err;
    }
  };
  mount(app, auth, routes.ethereumDepositAddress, depositAddress('ethereum', 'Ethereum'));
  mount(app, auth, routes.bitcoinDepositAddress, depositAddress('bitcoin', 'Bitcoin'));

  mount(app, auth, routes.adminSetRate, async ({ body }) => {
    let set;
    try {
      set = await rails?.setRate(body.coin, body.rate);
    } catch (err) {
      if (err instanceof RangeError) throw new DomainError('invalid_request', err.message, { 'body.rate': err.message });
      throw err;
    }
    if (!set) {
      const coins = rails?.coinSymbols() ?? [];
      const message = `No payment rail here takes ${body.coin}; ${coins.length ? `rates are set for ${coins.join(', ')}` : 'no chain rail is enabled'}.`;
      throw new DomainError('invalid_request', message, { 'body.coin': message });
    }
    const { coin, check } = set;
    return { coin, rate: body.rate, usable: check.usable, ...(!check.usable && { unavailable: check.reason }) };
  });
}
