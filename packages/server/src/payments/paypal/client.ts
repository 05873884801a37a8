import type { z } from 'zod';
import { isPayPalCurrency, microsToPayPalValue, payPalValueToMicros, UnrepresentableAmount, type PayPalCurrency } from './money.ts';
import { PayPalError } from './paypal-error.ts';
import { Capture, ErrorReply, Order, Refund, TokenReply, VerifyWebhookReply } from './schemas.ts';

/**
 * A client for the parts of PayPal's REST API a top-up needs: an OAuth2 client-credentials
 * token (cached until shortly before it expires), Orders v2 (create, capture, get) and
 * webhook signature verification. Uses the global `fetch` unless one is injected.
 *
 * Live: https://api-m.paypal.com; sandbox: https://api-m.sandbox.paypal.com.
 */
export interface PayPalClientOptions {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  fetch?: typeof fetch;
  /** Per request, including reading the reply. */
  timeoutMs?: number;
  /** Milliseconds since the epoch; injected so token expiry can be tested without waiting. */
  now?: () => number;
}

export interface CreateOrderOptions {
  /** Where PayPal sends the payer after approving (with `?token=ORDER_ID&PayerID=…`). */
  returnUrl?: string;
  /** Where PayPal sends the payer who cancels. */
  cancelUrl?: string;
  brandName?: string;
  /** Shown to the payer at PayPal. */
  description?: string;
}

export interface CreatedOrder {
  orderId: string;
  /** Send the payer's browser here to approve the payment. */
  approveUrl: string;
}

/** A capture of one of our orders, amounts already converted. */
export interface PayPalCapture {
  captureId: string;
  /** COMPLETED when the money has arrived; PENDING, DECLINED, FAILED, … otherwise. */
  status: string;
  amountMicros: bigint;
  currency: PayPalCurrency;
  /** The `custom_id` we set on the order (our top-up ID). */
  customId: string | undefined;
  /** The order the capture belongs to, when PayPal says. */
  orderId: string | undefined;
  /** When PayPal created the capture (ISO-8601), when it says. */
  createTime: string | undefined;
}

/** A refund (or a reversal PayPal reports as one) of one of our captures, as PayPal states it. */
export interface PayPalRefund {
  refundId: string;
  /** COMPLETED once the money has gone back to the payer. */
  status: string;
  amountMicros: bigint;
  currency: PayPalCurrency;
  /** The capture refunded, from the refund's "up" link. */
  captureId: string | undefined;
  createTime: string | undefined;
}

/** Request headers of a webhook delivery: Node's `req.headers` or a fetch `Headers`. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

const defaultTimeoutMs = 15_000;
/** Refresh a token this long before PayPal says it expires (or at half its life, if shorter). */
const tokenRefreshMarginMs = 60_000;

const transmissionHeaders = {
  auth_algo: 'paypal-auth-algo',
  cert_url: 'paypal-cert-url',
  transmission_id: 'paypal-transmission-id',
  transmission_sig: 'paypal-transmission-sig',
  transmission_time: 'paypal-transmission-time',
} as const;

export class PayPalClient {
  readonly baseUrl: string;
  private readonly clientId: string;
  private readonly clientSecret: string;
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private token: { value: string; refreshAt: number } | undefined;
  private tokenRequest: Promise<string> | undefined;

  constructor(options: PayPalClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.clientId = options.clientId;
    this.clientSecret = options.clientSecret;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
    this.now = options.now ?? Date.now;
  }

  /**
   * Creates an order to capture `amountMicros` of `currency`, tagged with `customId` (our
   * top-up ID, 1–127 characters, which PayPal returns on the capture and its webhooks).
   * `customId` doubles as the PayPal-Request-Id, so a retried call cannot create a second order.
   * Throws `UnrepresentableAmount` for amounts PayPal cannot charge (see money.ts).
   */
  async createOrder(amountMicros: bigint, currency: string, customId: string, options: CreateOrderOptions = {}): Promise<CreatedOrder> {
    const code = supportedCurrency(currency);
    if (amountMicros <= 0n) throw new UnrepresentableAmount('A PayPal order needs an amount above zero.');
    if (customId.length < 1 || customId.length > 127) throw new RangeError('A PayPal custom_id is 1 to 127 characters long.');
    const experience = {
      ...(options.returnUrl && { return_url: options.returnUrl }),
      ...(options.cancelUrl && { cancel_url: options.cancelUrl }),
      ...(options.brandName && { brand_name: options.brandName }),
      user_action: 'PAY_NOW',
      shipping_preference: 'NO_SHIPPING',
    };
    const body = {
      intent: 'CAPTURE',
      purchase_units: [
        {
          custom_id: customId,
          ...(options.description && { description: options.description }),
          amount: { currency_code: code, value: microsToPayPalValue(amountMicros, code) },
        },
      ],
      payment_source: { paypal: { experience_context: experience } },
    };
    const operation = `create an order for ${body.purchase_units[0]!.amount.value} ${code}`;
    const order = await this.call(operation, 'POST', '/v2/checkout/orders', Order, {
      body: JSON.stringify(body),
      headers: customId.length <= 108 ? { 'PayPal-Request-Id': customId } : {},
    });
    // Orders created with payment_source.paypal answer with "payer-action"; older flows with "approve".
    const link = order.links?.find((l) => l.rel === 'payer-action') ?? order.links?.find((l) => l.rel === 'approve');
    if (!link) throw invalidResponse(operation, 'the new order has no "payer-action" or "approve" link');
    return { orderId: order.id, approveUrl: link.href };
  }

  /**
   * Captures an order the payer has approved. PayPal refuses with issue ORDER_NOT_APPROVED
   * before approval and ORDER_ALREADY_CAPTURED the second time (see `findCapture`).
   */
  async captureOrder(orderId: string): Promise<PayPalCapture> {
    const operation = `capture order ${orderId}`;
    const order = await this.call(operation, 'POST', `/v2/checkout/orders/${encodeURIComponent(orderId)}/capture`, Order, {
      headers: { Prefer: 'return=representation' },
    });
    const capture = captureOf(order, operation);
    if (!capture) throw invalidResponse(operation, 'the reply has no capture');
    return capture;
  }

  /** The capture of an order, or null when it has none yet: for orders captured earlier or elsewhere. */
  async findCapture(orderId: string): Promise<PayPalCapture | null> {
    const operation = `look up order ${orderId}`;
    const order = await this.call(operation, 'GET', `/v2/checkout/orders/${encodeURIComponent(orderId)}`, Order, {});
    return captureOf(order, operation);
  }

  /**
   * A capture as PayPal holds it now (GET /v2/payments/captures/{id}): the webhook path's source
   * of truth for amount, custom_id and status, since a webhook's body is only as good as its
   * CRC32-based signature. Null when PayPal has no such capture.
   */
  async getCapture(captureId: string): Promise<PayPalCapture | null> {
    const operation = `look up capture ${captureId}`;
    try {
      const capture = await this.call(operation, 'GET', `/v2/payments/captures/${encodeURIComponent(captureId)}`, Capture, {});
      return convertCapture(capture, undefined, undefined, operation);
    } catch (error) {
      if (error instanceof PayPalError && error.status === 404) return null;
      throw error;
    }
  }

  /** A refund as PayPal holds it now (GET /v2/payments/refunds/{id}); null when PayPal has no such refund. */
  async getRefund(refundId: string): Promise<PayPalRefund | null> {
    const operation = `look up refund ${refundId}`;
    let refund: Refund;
    try {
      refund = await this.call(operation, 'GET', `/v2/payments/refunds/${encodeURIComponent(refundId)}`, Refund, {});
    } catch (error) {
      if (error instanceof PayPalError && error.status === 404) return null;
      throw error;
    }
    const currency = refund.amount.currency_code;
    if (!isPayPalCurrency(currency)) throw invalidResponse(operation, `the refund is in an unsupported currency, ${currency}`);
    let amountMicros: bigint;
    try {
      amountMicros = payPalValueToMicros(refund.amount.value, currency);
    } catch (error) {
      throw invalidResponse(operation, (error as Error).message);
    }
    const up = refund.links?.find((l) => l.rel === 'up')?.href;
    const captureId = up ? /\/v2\/payments\/captures\/([^/?#]+)$/.exec(up)?.[1] : undefined;
    return {
      refundId: refund.id,
      status: refund.status,
      amountMicros,
      currency,
      captureId: captureId && decodeURIComponent(captureId),
      createTime: refund.create_time,
    };
  }

  /**
   * Asks PayPal whether a webhook delivery is genuine: signed by PayPal, for `webhookId`,
   * with this exact body. False when the transmission headers are missing, the body is not
   * a JSON object, or PayPal answers FAILURE; throws `PayPalError` when PayPal cannot be asked
   * (then answer the delivery with a 5xx so PayPal sends it again).
   */
  async verifyWebhook(headers: WebhookHeaders, rawBody: string | Uint8Array, webhookId: string): Promise<boolean> {
    const fields: Record<string, string> = {};
    for (const [field, header] of Object.entries(transmissionHeaders)) {
      const value = headerValue(headers, header);
      if (!value) return false;
      fields[field] = value;
    }
    const body = typeof rawBody === 'string' ? rawBody : new TextDecoder().decode(rawBody);
    try {
      const event: unknown = JSON.parse(body);
      if (typeof event !== 'object' || event === null || Array.isArray(event)) return false;
    } catch {
      return false;
    }
    // PayPal checks the signature against the event as we send it back, so send the bytes
    // we received, not a re-serialisation (which can change number formats or escapes).
    const head = JSON.stringify({ ...fields, webhook_id: webhookId });
    const request = `${head.slice(0, -1)},"webhook_event":${body}}`;
    const reply = await this.call('verify a webhook signature', 'POST', '/v1/notifications/verify-webhook-signature', VerifyWebhookReply, {
      body: request,
    });
    return reply.verification_status === 'SUCCESS';
  }

  /** A valid access token, fetching one when none is cached or it is about to expire; one request at a time. */
  private async accessToken(): Promise<string> {
    if (this.token && this.now() < this.token.refreshAt) return this.token.value;
    this.tokenRequest ??= this.fetchToken().finally(() => {
      this.tokenRequest = undefined;
    });
    return this.tokenRequest;
  }

  private async fetchToken(): Promise<string> {
    const requestedAt = this.now();
    const basic = Buffer.from(`${this.clientId}:${this.clientSecret}`).toString('base64');
    const reply = await this.call('get an access token', 'POST', '/v1/oauth2/token', TokenReply, {
      auth: `Basic ${basic}`,
      body: 'grant_type=client_credentials',
      contentType: 'application/x-www-form-urlencoded',
    });
    const lifetimeMs = reply.expires_in * 1000;
    this.token = { value: reply.access_token, refreshAt: requestedAt + lifetimeMs - Math.min(tokenRefreshMarginMs, lifetimeMs / 2) };
    return reply.access_token;
  }

  /**
   * One request with a timeout; a 2xx reply is parsed with `schema`, anything else becomes a
   * PayPalError. A 401 with a cached token (revoked early) fetches a new token and tries once more.
   */
  private async call<S extends z.ZodType>(
    operation: string,
    method: 'GET' | 'POST',
    path: string,
    schema: S,
    request: { auth?: string; body?: string; contentType?: string; headers?: Record<string, string> },
  ): Promise<z.output<S>> {
    for (let attempt = 1; ; attempt++) {
      const auth = request.auth ?? `Bearer ${await this.accessToken()}`;
      const headers: Record<string, string> = {
        Accept: 'application/json',
        Authorization: auth,
        ...(method === 'POST' && { 'Content-Type': request.contentType ?? 'application/json' }),
        ...request.headers,
      };
      let status: number;
      let text: string;
      try {
        const response = await this.fetch(`${this.baseUrl}${path}`, {
          method,
          headers,
          body: request.body,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        status = response.status;
        text = await response.text();
      } catch (error) {
        const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
        throw new PayPalError(
          timedOut
            ? `PayPal did not answer within ${this.timeoutMs} ms when asked to ${operation}; it may or may not have done it.`
            : `Could not reach PayPal at ${this.baseUrl} to ${operation}: ${error instanceof Error ? error.message : String(error)}.`,
          { kind: timedOut ? 'timeout' : 'network', operation, cause: error },
        );
      }
      if (status === 401 && request.auth === undefined && attempt === 1) {
        this.token = undefined;
        continue;
      }
      const json = parseJson(text);
      if (status < 200 || status > 299) {
        const body = ErrorReply.safeParse(json);
        throw PayPalError.fromReply(operation, status, body.success ? body.data : undefined);
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) throw invalidResponse(operation, `unexpected reply: ${parsed.error.issues[0]?.message ?? 'not JSON'}`, status);
      return parsed.data;
    }
  }
}

function supportedCurrency(currency: string): PayPalCurrency {
  if (!isPayPalCurrency(currency)) throw new UnrepresentableAmount(`The PayPal rail does not support the currency "${currency}".`);
  return currency;
}

/** The (single) capture of our single purchase unit, or null when there is none. */
function captureOf(order: Order, operation: string): PayPalCapture | null {
  const unit = order.purchase_units?.[0];
  const capture = unit?.payments?.captures?.[0];
  if (!capture) return null;
  return convertCapture(capture, unit?.custom_id, order.id, operation);
}

function convertCapture(capture: Capture, unitCustomId: string | undefined, orderId: string | undefined, operation: string): PayPalCapture {
  const currency = capture.amount.currency_code;
  if (!isPayPalCurrency(currency)) throw invalidResponse(operation, `the capture is in an unsupported currency, ${currency}`);
  let amountMicros: bigint;
  try {
    amountMicros = payPalValueToMicros(capture.amount.value, currency);
  } catch (error) {
    throw invalidResponse(operation, (error as Error).message);
  }
  return {
    captureId: capture.id,
    status: capture.status,
    amountMicros,
    currency,
    customId: capture.custom_id ?? unitCustomId,
    orderId: orderId ?? capture.supplementary_data?.related_ids?.order_id,
    createTime: capture.create_time,
  };
}

function invalidResponse(operation: string, why: string, status?: number): PayPalError {
  return new PayPalError(`PayPal's answer when asked to ${operation} made no sense: ${why}.`, {
    kind: 'invalid_response',
    operation,
    status,
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function headerValue(headers: WebhookHeaders, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : headers[key];
  return Array.isArray(value) ? value[0] : value;
}
