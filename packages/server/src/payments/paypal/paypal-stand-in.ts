import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A LOCAL STAND-IN for PayPal's REST API, for tests only: PayPal cannot be reached from the
 * test machines, so this serves the few endpoints the PayPal rail calls, on 127.0.0.1, with
 * PayPal's documented shapes, statuses and error names. It is not PayPal and proves nothing
 * about PayPal beyond those shapes; it exists so the real client can be exercised over HTTP.
 *
 * - POST /v1/oauth2/token: client credentials over HTTP Basic; counts token requests.
 * - POST /v2/checkout/orders, GET …/{id}, POST …/{id}/capture: the Orders v2 life cycle,
 *   including ORDER_NOT_APPROVED before approval and ORDER_ALREADY_CAPTURED after.
 * - GET /checkoutnow?token=ID: what the payer's browser does at PayPal; approves the order
 *   and redirects to the order's return URL (tests may call `approve()` instead).
 * - Webhooks: after approval (CHECKOUT.ORDER.APPROVED) and capture (PAYMENT.CAPTURE.COMPLETED),
 *   POSTs the event to `webhookUrl` with PayPal's transmission headers.
 * - POST /v1/notifications/verify-webhook-signature: SUCCESS only for an event this stand-in
 *   sent, unmodified, for the configured webhook ID (the signature is an HMAC over transmission
 *   ID, time, webhook ID and a hash of the body, standing in for PayPal's RSA signature).
 * - GET /v2/payments/captures/{id} and GET /v2/payments/refunds/{id}: a capture's current state
 *   (COMPLETED, PENDING, PARTIALLY_REFUNDED, REFUNDED, REVERSED, DENIED) and a refund, as
 *   PayPal answers when the rail confirms a webhook. POST /v2/payments/captures/{id}/refund and
 *   `refund()`, `reverse()`, `deny()`, `completePending()` change a capture and send
 *   PAYMENT.CAPTURE.REFUNDED / REVERSED / DENIED / COMPLETED as PayPal does.
 * - `requests` counts every API request and `maxInFlight` the most answered at once, so tests
 *   can bound the calls our unauthenticated routes cause; `signEvent()` signs any event, standing
 *   in for a body that passes PayPal's CRC32-based signature check without being PayPal's.
 */
export interface PayPalStandInOptions {
  clientId: string;
  clientSecret: string;
  webhookId: string;
  /** Where webhooks go; none are sent while unset. */
  webhookUrl?: string;
  tokenLifetimeSeconds?: number;
}

/** A webhook as this stand-in transmitted it. */
export interface SentWebhook {
  eventType: string;
  headers: Record<string, string>;
  body: string;
}

interface StandInOrder {
  id: string;
  status: 'CREATED' | 'PAYER_ACTION_REQUIRED' | 'APPROVED' | 'COMPLETED';
  amount: { currency_code: string; value: string };
  customId: string | undefined;
  returnUrl: string | undefined;
  payerAction: boolean;
  createTime: string;
  capture?: Record<string, unknown>;
}

class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

const decimalsOf: Record<string, number> = { USD: 2, EUR: 2, GBP: 2, CAD: 2, AUD: 2, CHF: 2, JPY: 0 };

function error(status: number, name: string, message: string, issue?: string, description?: string): Reply {
  return new Reply(status, {
    name,
    message,
    debug_id: randomBytes(6).toString('hex'),
    ...(issue && { details: [{ issue, description: description ?? message }] }),
  });
}

function paypalId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return Array.from(randomBytes(17), (b) => alphabet[b % alphabet.length]).join('');
}

export class PayPalStandIn {
  /** Set to have webhooks delivered; see `PayPalStandInOptions.webhookUrl`. */
  webhookUrl: string | undefined;
  /** Delay before answering any API request, to exercise client timeouts. */
  replyDelayMs = 0;
  /** Successful POST /v1/oauth2/token calls so far. */
  tokenRequests = 0;
  /** Every webhook sent so far, in order. */
  readonly webhooks: SentWebhook[] = [];
  /** API requests received so far (token requests and the payer's browser included). */
  requests = 0;
  /** The most requests being answered at once so far. */
  maxInFlight = 0;
  /** The status new captures get: PENDING holds the money (e.g. an eCheck) until `completePending` or `deny`. */
  captureStatus: 'COMPLETED' | 'PENDING' = 'COMPLETED';
  private inFlight = 0;
  private readonly captures = new Map<string, StandInOrder>();
  private readonly refunds = new Map<string, Record<string, unknown>>();
  private readonly refundCaptures = new Map<string, string>();
  readonly url: string;

  private readonly orders = new Map<string, StandInOrder>();
  private readonly ordersByRequestId = new Map<string, string>();
  private readonly tokens = new Map<string, number>();
  private readonly signingKey = randomBytes(32);
  private readonly deliveries = new Set<Promise<unknown>>();

  private constructor(
    private readonly server: Server,
    private readonly options: PayPalStandInOptions,
  ) {
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    this.webhookUrl = options.webhookUrl;
  }

  static async start(options: PayPalStandInOptions): Promise<PayPalStandIn> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const standIn = new PayPalStandIn(server, options);
    server.on('request', (req, res) => void standIn.serve(req, res));
    return standIn;
  }

  /** The payer approves the order in their PayPal window. */
  approve(orderId: string): void {
    const order = this.orders.get(orderId);
    if (!order) throw new Error(`The stand-in has no order ${orderId}.`);
    if (order.status !== 'CREATED' && order.status !== 'PAYER_ACTION_REQUIRED') return;
    order.status = 'APPROVED';
    this.sendWebhook('CHECKOUT.ORDER.APPROVED', 'checkout-order', this.orderJson(order));
  }

  /** The payer (or the merchant) refunds `value` (default: all that is left) of a capture: PAYMENT.CAPTURE.REFUNDED. */
  refund(captureId: string, value?: string): string {
    const reply = this.refundCapture(captureId, value);
    if (reply.status !== 201) throw new Error(`The stand-in cannot refund ${captureId}: ${JSON.stringify(reply.body)}`);
    return (reply.body as { id: string }).id;
  }

  /** The payer's bank takes the payment back (a chargeback decided against the merchant): PAYMENT.CAPTURE.REVERSED. */
  reverse(captureId: string): void {
    const capture = this.captureOf(captureId);
    capture.status = 'REVERSED';
    this.sendWebhook('PAYMENT.CAPTURE.REVERSED', 'capture', this.captureJson(captureId));
  }

  /** A PENDING capture is denied: the money never arrives. PAYMENT.CAPTURE.DENIED. */
  deny(captureId: string): void {
    const capture = this.captureOf(captureId);
    capture.status = 'DENIED';
    this.sendWebhook('PAYMENT.CAPTURE.DENIED', 'capture', this.captureJson(captureId));
  }

  /** A PENDING capture completes: PAYMENT.CAPTURE.COMPLETED. */
  completePending(captureId: string): void {
    const capture = this.captureOf(captureId);
    capture.status = 'COMPLETED';
    this.sendWebhook('PAYMENT.CAPTURE.COMPLETED', 'capture', this.captureJson(captureId));
  }

  /** Signs and sends an arbitrary event, as if PayPal had: a forged body that passes the signature check. */
  signEvent(eventType: string, resourceType: string, resource: Record<string, unknown>): SentWebhook {
    this.sendWebhook(eventType, resourceType, resource);
    return this.webhooks.at(-1)!;
  }

  /** The capture ID of an order the stand-in captured. */
  captureIdOf(orderId: string): string {
    const id = this.orders.get(orderId)?.capture?.id;
    if (typeof id !== 'string') throw new Error(`The stand-in has not captured order ${orderId}.`);
    return id;
  }

  /** Makes every token issued so far invalid, as when PayPal revokes them early. */
  revokeTokens(): void {
    this.tokens.clear();
  }

  /** POSTs `webhook` (or a modified copy) to `webhookUrl`, as PayPal does on retries; the HTTP status, 0 if unreachable. */
  async deliver(webhook: SentWebhook, changes: { body?: string; headers?: Record<string, string> } = {}): Promise<number> {
    if (!this.webhookUrl) throw new Error('The stand-in has no webhookUrl to deliver to.');
    try {
      const response = await fetch(this.webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...webhook.headers, ...changes.headers },
        body: changes.body ?? webhook.body,
      });
      await response.arrayBuffer();
      return response.status;
    } catch {
      return 0;
    }
  }

  /** Resolves once every webhook sent so far has been delivered (or has failed to be). */
  async settled(): Promise<void> {
    while (this.deliveries.size > 0) await Promise.allSettled([...this.deliveries]);
  }

  async close(): Promise<void> {
    await this.settled();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    let reply: Reply;
    this.requests++;
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      if (this.replyDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.replyDelayMs));
      reply = this.route(req, body);
    } catch (err) {
      reply = error(500, 'INTERNAL_SERVER_ERROR', `The stand-in failed: ${(err as Error).message}`);
    } finally {
      this.inFlight--;
    }
    if (res.destroyed) return;
    const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
    res.writeHead(reply.status, { ...(text && { 'content-type': 'application/json' }), ...reply.headers });
    res.end(text);
  }

  private route(req: IncomingMessage, body: string): Reply {
    const url = new URL(req.url ?? '/', this.url);
    const route = `${req.method} ${url.pathname}`;
    if (route === 'POST /v1/oauth2/token') return this.issueToken(req, body);
    if (route === 'GET /checkoutnow') return this.payerApproves(url.searchParams.get('token') ?? '');
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const expiresAt = token === undefined ? undefined : this.tokens.get(token);
    if (expiresAt === undefined || expiresAt < Date.now()) {
      return new Reply(401, { error: 'invalid_token', error_description: 'Token signature verification failed' });
    }
    if (route === 'POST /v2/checkout/orders') return this.createOrder(req, body);
    if (route === 'POST /v1/notifications/verify-webhook-signature') return this.verifySignature(body);
    const paymentPath = /^\/v2\/payments\/(captures|refunds)\/([^/]+)(\/refund)?$/.exec(url.pathname);
    if (paymentPath) {
      const id = decodeURIComponent(paymentPath[2]!);
      if (paymentPath[1] === 'captures' && req.method === 'POST' && paymentPath[3]) {
        const value = (parseJsonBody(body || '{}') as { amount?: { value?: string } })?.amount?.value;
        return this.refundCapture(id, value);
      }
      if (req.method === 'GET' && !paymentPath[3]) {
        const found = paymentPath[1] === 'captures' ? (this.captures.has(id) ? this.captureJson(id) : undefined) : this.refunds.get(id);
        if (found) return new Reply(200, found);
        return error(404, 'RESOURCE_NOT_FOUND', 'The specified resource does not exist.', 'INVALID_RESOURCE_ID');
      }
    }
    const orderPath = /^\/v2\/checkout\/orders\/([^/]+)(\/capture)?$/.exec(url.pathname);
    if (orderPath) {
      const order = this.orders.get(decodeURIComponent(orderPath[1]!));
      if (!order) {
        return error(
          404,
          'RESOURCE_NOT_FOUND',
          'The specified resource does not exist.',
          'INVALID_RESOURCE_ID',
          'Specified resource ID does not exist.',
        );
      }
      if (req.method === 'GET' && !orderPath[2]) return new Reply(200, this.orderJson(order));
      if (req.method === 'POST' && orderPath[2]) return this.capture(order);
    }
    return error(404, 'NOT_FOUND', `The stand-in does not serve ${route}.`);
  }

  private issueToken(req: IncomingMessage, body: string): Reply {
    const expected = `Basic ${Buffer.from(`${this.options.clientId}:${this.options.clientSecret}`).toString('base64')}`;
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, Buffer.from(expected))) {
      return new Reply(401, { error: 'invalid_client', error_description: 'Client Authentication failed' });
    }
    if (new URLSearchParams(body).get('grant_type') !== 'client_credentials') {
      return new Reply(400, { error: 'unsupported_grant_type', error_description: 'Grant Type is NULL' });
    }
    const lifetime = this.options.tokenLifetimeSeconds ?? 32_400;
    const token = `A21AA${randomBytes(24).toString('base64url')}`;
    this.tokens.set(token, Date.now() + lifetime * 1000);
    this.tokenRequests++;
    return new Reply(200, {
      scope: 'https://uri.paypal.com/services/payments/payment',
      access_token: token,
      token_type: 'Bearer',
      app_id: 'APP-STAND-IN',
      expires_in: lifetime,
      nonce: `${new Date().toISOString()}${randomBytes(8).toString('hex')}`,
    });
  }

  private createOrder(req: IncomingMessage, body: string): Reply {
    const requestId = req.headers['paypal-request-id'];
    const previous = typeof requestId === 'string' ? this.ordersByRequestId.get(requestId) : undefined;
    if (previous) return new Reply(200, this.orderJson(this.orders.get(previous)!, true));
    const request = parseJsonBody(body);
    if (request instanceof Reply) return request;
    const unit = request?.purchase_units?.[0];
    const amount = unit?.amount;
    if (request?.intent !== 'CAPTURE' || typeof amount?.value !== 'string' || typeof amount?.currency_code !== 'string') {
      return error(
        400,
        'INVALID_REQUEST',
        'Request is not well-formed, syntactically incorrect, or violates schema.',
        'MISSING_REQUIRED_PARAMETER',
      );
    }
    const decimals = decimalsOf[amount.currency_code];
    if (decimals === undefined) {
      return error(422, 'UNPROCESSABLE_ENTITY', 'The requested action could not be performed.', 'CURRENCY_NOT_SUPPORTED');
    }
    const valid = decimals === 0 ? /^\d+$/ : new RegExp(`^\\d+(\\.\\d{1,${decimals}})?$`);
    if (!valid.test(amount.value)) {
      return error(422, 'UNPROCESSABLE_ENTITY', 'The requested action could not be performed.', 'DECIMAL_PRECISION');
    }
    if (Number(amount.value) <= 0) {
      return error(422, 'UNPROCESSABLE_ENTITY', 'The requested action could not be performed.', 'CANNOT_BE_ZERO_OR_NEGATIVE');
    }
    const experience = request.payment_source?.paypal?.experience_context;
    const order: StandInOrder = {
      id: paypalId(),
      status: experience ? 'PAYER_ACTION_REQUIRED' : 'CREATED',
      amount: { currency_code: amount.currency_code, value: amount.value },
      customId: typeof unit.custom_id === 'string' ? unit.custom_id : undefined,
      returnUrl: experience?.return_url,
      payerAction: Boolean(experience),
      createTime: new Date().toISOString(),
    };
    this.orders.set(order.id, order);
    if (typeof requestId === 'string') this.ordersByRequestId.set(requestId, order.id);
    return new Reply(201, this.orderJson(order, true));
  }

  private payerApproves(orderId: string): Reply {
    const order = this.orders.get(orderId);
    if (!order) return new Reply(404, { message: 'No such checkout.' });
    this.approve(orderId);
    if (!order.returnUrl) return new Reply(200, { message: 'Approved; you can close this window.' });
    const back = new URL(order.returnUrl);
    back.searchParams.set('token', order.id);
    back.searchParams.set('PayerID', 'STANDINPAYER01');
    return new Reply(302, undefined, { location: back.href });
  }

  private capture(order: StandInOrder): Reply {
    if (order.status === 'COMPLETED') {
      return error(
        422,
        'UNPROCESSABLE_ENTITY',
        'The requested action could not be performed, semantically incorrect, or failed business validation.',
        'ORDER_ALREADY_CAPTURED',
        'Order already captured. If intent=CAPTURE only one capture per order is allowed.',
      );
    }
    if (order.status !== 'APPROVED') {
      return error(
        422,
        'UNPROCESSABLE_ENTITY',
        'The requested action could not be performed, semantically incorrect, or failed business validation.',
        'ORDER_NOT_APPROVED',
        'Payer has not yet approved the Order for payment. Please redirect the payer to the approve URL.',
      );
    }
    const now = new Date().toISOString();
    const captureId = paypalId();
    order.status = 'COMPLETED';
    order.capture = {
      id: captureId,
      status: this.captureStatus,
      amount: order.amount,
      final_capture: true,
      ...(order.customId && { custom_id: order.customId }),
      create_time: now,
      update_time: now,
      links: [{ href: `${this.url}/v2/payments/captures/${captureId}`, rel: 'self', method: 'GET' }],
    };
    this.captures.set(captureId, order);
    if (this.captureStatus === 'COMPLETED') this.sendWebhook('PAYMENT.CAPTURE.COMPLETED', 'capture', this.captureJson(captureId));
    else this.sendWebhook('PAYMENT.CAPTURE.PENDING', 'capture', this.captureJson(captureId));
    return new Reply(201, this.orderJson(order));
  }

  private captureOf(captureId: string): Record<string, unknown> {
    const capture = this.captures.get(captureId)?.capture;
    if (!capture) throw new Error(`The stand-in has no capture ${captureId}.`);
    return capture;
  }

  /** GET /v2/payments/captures/{id}: the capture as it stands now, with its order. */
  private captureJson(captureId: string): Record<string, unknown> {
    const order = this.captures.get(captureId)!;
    return { ...order.capture, supplementary_data: { related_ids: { order_id: order.id } } };
  }

  private refundCapture(captureId: string, value: string | undefined): Reply {
    const order = this.captures.get(captureId);
    const capture = order?.capture as { status: string; amount: { currency_code: string; value: string } } | undefined;
    if (!order || !capture) return error(404, 'RESOURCE_NOT_FOUND', 'The specified resource does not exist.', 'INVALID_RESOURCE_ID');
    if (capture.status !== 'COMPLETED' && capture.status !== 'PARTIALLY_REFUNDED') {
      return error(422, 'UNPROCESSABLE_ENTITY', 'The requested action could not be performed.', 'CAPTURE_FULLY_REFUNDED');
    }
    // Amounts in cents (every stand-in currency but JPY has two decimals; JPY has none): exact, no floats.
    const scale = decimalsOf[capture.amount.currency_code] === 0 ? 1 : 100;
    const cents = (v: string) => Math.round(Number(v) * scale);
    const refunded = [...this.refunds.values()]
      .filter((r) => this.refundCaptures.get(r.id as string) === captureId)
      .reduce((sum, r) => sum + cents((r.amount as { value: string }).value), 0);
    const left = cents(capture.amount.value) - refunded;
    const amount = value === undefined ? left : cents(value);
    if (!(amount > 0) || amount > left) {
      return error(422, 'UNPROCESSABLE_ENTITY', 'The requested action could not be performed.', 'REFUND_AMOUNT_EXCEEDED');
    }
    capture.status = amount === left ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
    const id = paypalId();
    const now = new Date().toISOString();
    const refund = {
      id,
      status: 'COMPLETED',
      amount: { currency_code: capture.amount.currency_code, value: (amount / scale).toFixed(scale === 1 ? 0 : 2) },
      ...(order.customId && { custom_id: order.customId }),
      create_time: now,
      update_time: now,
      links: [
        { href: `${this.url}/v2/payments/refunds/${id}`, rel: 'self', method: 'GET' },
        { href: `${this.url}/v2/payments/captures/${captureId}`, rel: 'up', method: 'GET' },
      ],
    };
    this.refunds.set(id, refund);
    this.refundCaptures.set(id, captureId);
    this.sendWebhook('PAYMENT.CAPTURE.REFUNDED', 'refund', refund);
    return new Reply(201, refund);
  }

  private orderJson(order: StandInOrder, minimal = false): Record<string, unknown> {
    const links: Array<Record<string, string>> = [{ href: `${this.url}/v2/checkout/orders/${order.id}`, rel: 'self', method: 'GET' }];
    if (order.status === 'CREATED' || order.status === 'PAYER_ACTION_REQUIRED') {
      links.push({ href: `${this.url}/checkoutnow?token=${order.id}`, rel: order.payerAction ? 'payer-action' : 'approve', method: 'GET' });
    }
    if (minimal) return { id: order.id, status: order.status, links };
    return {
      id: order.id,
      intent: 'CAPTURE',
      status: order.status,
      purchase_units: [
        {
          reference_id: 'default',
          amount: order.amount,
          ...(order.customId && { custom_id: order.customId }),
          ...(order.capture && { payments: { captures: [order.capture] } }),
        },
      ],
      create_time: order.createTime,
      links,
    };
  }

  private signature(transmissionId: string, time: string, webhookId: string, body: string): string {
    const digest = createHash('sha256').update(body).digest('hex');
    return createHmac('sha256', this.signingKey).update(`${transmissionId}|${time}|${webhookId}|${digest}`).digest('base64');
  }

  private sendWebhook(eventType: string, resourceType: string, resource: Record<string, unknown>): void {
    const id = `WH-${paypalId()}-${paypalId()}`;
    const event = {
      id,
      event_version: '1.0',
      create_time: new Date().toISOString(),
      resource_type: resourceType,
      resource_version: '2.0',
      event_type: eventType,
      summary: `Stand-in event ${eventType}`,
      resource,
      links: [{ href: `${this.url}/v1/notifications/webhooks-events/${id}`, rel: 'self', method: 'GET' }],
    };
    const body = JSON.stringify(event);
    const transmissionId = randomUUID();
    const time = new Date().toISOString();
    const webhook: SentWebhook = {
      eventType,
      body,
      headers: {
        'paypal-transmission-id': transmissionId,
        'paypal-transmission-time': time,
        'paypal-transmission-sig': this.signature(transmissionId, time, this.options.webhookId, body),
        'paypal-cert-url': `${this.url}/v1/notifications/certs/CERT-stand-in`,
        'paypal-auth-algo': 'SHA256withRSA',
      },
    };
    this.webhooks.push(webhook);
    if (!this.webhookUrl) return;
    const delivery = this.deliver(webhook).finally(() => this.deliveries.delete(delivery));
    this.deliveries.add(delivery);
  }

  private verifySignature(body: string): Reply {
    const request = parseJsonBody(body);
    if (request instanceof Reply) return request;
    const fields = ['auth_algo', 'cert_url', 'transmission_id', 'transmission_sig', 'transmission_time', 'webhook_id'];
    if (fields.some((f) => typeof request?.[f] !== 'string') || typeof request?.webhook_event !== 'object') {
      return error(400, 'VALIDATION_ERROR', 'Invalid request - see details', 'MISSING_REQUIRED_PARAMETER');
    }
    const expected = Buffer.from(
      this.signature(request.transmission_id, request.transmission_time, this.options.webhookId, JSON.stringify(request.webhook_event)),
    );
    const given = Buffer.from(request.transmission_sig);
    const genuine = request.webhook_id === this.options.webhookId && given.length === expected.length && timingSafeEqual(given, expected);
    return new Reply(200, { verification_status: genuine ? 'SUCCESS' : 'FAILURE' });
  }
}

/** A request body as JSON, or PayPal's reply to a malformed one. */
function parseJsonBody(body: string): any {
  try {
    return JSON.parse(body);
  } catch {
    return error(
      400,
      'INVALID_REQUEST',
      'Request is not well-formed, syntactically incorrect, or violates schema.',
      'MALFORMED_REQUEST_JSON',
    );
  }
}
