import { randomBytes } from 'node:crypto';
import type { DepositEvent, DepositSink, PaymentRail } from '../rail.ts';
import { PayPalClient, type PayPalCapture, type WebhookHeaders } from './client.ts';
import { validatePayPalRailConfig, type PayPalRailConfig, type ValidPayPalRailConfig } from './config.ts';
import { PayPalError } from './paypal-error.ts';
import { WebhookEvent } from './schemas.ts';

/**
 * Top-ups through PayPal Checkout (Orders v2, intent CAPTURE):
 *
 * 1. `startTopUp(userId, amount)` creates an order tagged with a top-up ID that names the
 *    user, and returns PayPal's approve URL for the renter's browser.
 * 2. The renter approves at PayPal and is sent to `returnUrl?token=ORDER_ID`; that route calls
 *    `complete(orderId)`, which captures the order and credits the capture.
 * 3. PayPal also sends PAYMENT.CAPTURE.COMPLETED to our webhook route, which calls
 *    `handleWebhook`; it credits the same capture if the renter never came back.
 *
 * Both paths credit under eventId = the PayPal capture ID, so the ledger applies a capture
 * once however many times and ways it arrives. No top-up table is needed: the order's
 * custom_id carries the user, and PayPal (verified) gives it back with the capture.
 */

/** The rail's name in deposit events and ledger accounts. */
export const payPalRailName = 'paypal';

export interface PayPalRailDeps {
  fetch?: typeof fetch;
  /** The clock; used when PayPal's capture carries no create_time. */
  now?: () => Date;
}

export interface StartedTopUp {
  /** Our ID for the top-up, stored at PayPal as the order's custom_id. */
  topUpId: string;
  orderId: string;
  /** Redirect the renter's browser here. */
  approveUrl: string;
}

/** How a capture turned out, for the return page and the webhook route alike. */
export type Credited = { status: 'credited'; event: DepositEvent } | { status: 'already_credited'; event: DepositEvent };

export type CompletionOutcome =
  | Credited
  /** The renter has not approved the payment at PayPal (yet): send them to the approve URL again. */
  | { status: 'not_approved'; message: string }
  /** Captured, but the money has not arrived (PENDING) or never will (DECLINED, FAILED). */
  | { status: 'not_completed'; captureId: string; captureStatus: string; message: string }
  /** Not one of our top-ups (an order made by some other integration on the same PayPal account). */
  | { status: 'ignored'; reason: string };

export type WebhookOutcome =
  | Credited
  /** The delivery is not verifiably from PayPal: answer 400 and change nothing. */
  | { status: 'rejected'; message: string }
  /** Genuine but nothing to do (another event type, another integration's order): answer 200. */
  | { status: 'ignored'; reason: string };

const topUpIdPattern = /^topup:([A-Za-z0-9_-]{1,64}):([A-Za-z0-9_-]{8,32})$/;

/** Our top-up ID, which is the order's custom_id: `topup:USER_ID:NONCE`. */
export function newTopUpId(userId: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(userId)) throw new RangeError(`"${userId}" is not a user ID the PayPal rail can carry.`);
  return `topup:${userId}:${randomBytes(12).toString('base64url')}`;
}

/** The user a top-up ID credits, or undefined when it is not one of ours. */
export function userOfTopUp(topUpId: string | undefined): string | undefined {
  return topUpId === undefined ? undefined : topUpIdPattern.exec(topUpId)?.[1];
}

export class PayPalRail implements PaymentRail {
  readonly name = payPalRailName;
  readonly config: ValidPayPalRailConfig;
  readonly client: PayPalClient;
  private readonly now: () => Date;
  private sink: DepositSink | undefined;
  private closed = false;
  /** Credits under way, by capture ID: concurrent deliveries of one capture share one sink call. */
  private readonly crediting = new Map<string, Promise<boolean>>();

  /** Throws `PayPalConfigError` listing every problem with `config`. */
  constructor(config: PayPalRailConfig, deps: PayPalRailDeps = {}) {
    this.config = validatePayPalRailConfig(config);
    this.client = new PayPalClient({
      baseUrl: config.baseUrl,
      clientId: config.clientId,
      clientSecret: config.clientSecret,
      fetch: deps.fetch,
      timeoutMs: config.timeoutMs,
    });
    this.now = deps.now ?? (() => new Date());
  }

  /** PayPal pushes to us (webhooks are mounted by the API), so starting only takes the sink. */
  async start(sink: DepositSink): Promise<void> {
    if (this.closed) throw new Error('The PayPal rail is closed.');
    this.sink = sink;
  }

  /** Waits for credits under way; idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.crediting.values()]);
  }

  /**
   * Creates a PayPal order for `amountMicros` of the marketplace currency. Throws
   * `UnrepresentableAmount` for amounts PayPal cannot charge exactly (1.234567 USD) and
   * `PayPalError` when PayPal refuses or cannot be reached.
   */
  async startTopUp(userId: string, amountMicros: bigint): Promise<StartedTopUp> {
    this.ready();
    const topUpId = newTopUpId(userId);
    const order = await this.client.createOrder(amountMicros, this.config.currency, topUpId, {
      returnUrl: this.config.returnUrl,
      cancelUrl: this.config.cancelUrl,
      brandName: this.config.brandName,
      description: 'Marketplace balance top-up',
    });
    return { topUpId, ...order };
  }

  /**
   * The return path: captures `orderId` and credits it when COMPLETED. Safe to call again, and
   * after the webhook has credited it (PayPal answers ORDER_ALREADY_CAPTURED; we look the
   * capture up and the ledger reports it as already credited).
   */
  async complete(orderId: string): Promise<CompletionOutcome> {
    this.ready();
    let capture: PayPalCapture | null;
    try {
      capture = await this.client.captureOrder(orderId);
    } catch (error) {
      if (!(error instanceof PayPalError) || error.kind !== 'http') throw error;
      if (error.issue === 'ORDER_NOT_APPROVED') {
        return { status: 'not_approved', message: 'The payment has not been approved at PayPal yet; approve it there first.' };
      }
      if (error.issue !== 'ORDER_ALREADY_CAPTURED') throw error;
      capture = await this.client.findCapture(orderId);
      if (!capture) throw error;
    }
    const userId = userOfTopUp(capture.customId);
    if (!userId) return { status: 'ignored', reason: `PayPal order ${orderId} is not a top-up of this marketplace.` };
    if (capture.status !== 'COMPLETED') {
      return {
        status: 'not_completed',
        captureId: capture.captureId,
        captureStatus: capture.status,
        message:
          capture.status === 'PENDING'
            ? 'PayPal is still processing the payment; the balance is credited as soon as PayPal completes it.'
            : `PayPal did not complete the payment (${capture.status}); nothing was charged or credited.`,
      };
    }
    return this.credit(capture, userId);
  }

  /**
   * The webhook path: verifies the delivery with PayPal first, then credits a
   * PAYMENT.CAPTURE.COMPLETED for one of our top-ups; other event types are ignored.
   * Throws when PayPal cannot be asked (answer 5xx so PayPal delivers again).
   */
  async handleWebhook(headers: WebhookHeaders, rawBody: string | Uint8Array): Promise<WebhookOutcome> {
    this.ready();
    const verified = await this.client.verifyWebhook(headers, rawBody, this.config.webhookId);
    if (!verified) {
      return { status: 'rejected', message: 'The webhook is not verifiably from PayPal (missing or wrong signature, or a changed body).' };
    }
    const text = typeof rawBody === 'string' ? rawBody : new TextDecoder().decode(rawBody);
    const envelope = WebhookEvent.safeParse(JSON.parse(text));
    if (!envelope.success) return { status: 'ignored', reason: 'The webhook is not a PayPal event.' };
    const event = envelope.data;
    if (event.event_type !== 'PAYMENT.CAPTURE.COMPLETED') {
      return { status: 'ignored', reason: `${event.event_type} needs no action.` };
    }
    const capture = this.client.parseCaptureResource(event.resource);
    // Captures carry their order's custom_id; if one ever does not, the order does.
    const customId = capture.customId ?? (capture.orderId ? (await this.client.findCapture(capture.orderId))?.customId : undefined);
    const userId = userOfTopUp(customId);
    if (!userId) return { status: 'ignored', reason: `Capture ${capture.captureId} is not a top-up of this marketplace.` };
    if (capture.status !== 'COMPLETED') return { status: 'ignored', reason: `Capture ${capture.captureId} is ${capture.status}.` };
    return this.credit(capture, userId);
  }

  private ready(): void {
    if (this.closed) throw new Error('The PayPal rail is closed.');
    if (!this.sink) throw new Error('The PayPal rail has not been started: call start(sink) first.');
  }

  private async credit(capture: PayPalCapture, userId: string): Promise<Credited | { status: 'ignored'; reason: string }> {
    if (capture.currency !== this.config.currency) {
      return {
        status: 'ignored',
        reason: `Capture ${capture.captureId} is in ${capture.currency}, not the marketplace currency ${this.config.currency}; settle it by hand.`,
      };
    }
    const event: DepositEvent = {
      rail: this.name,
      eventId: capture.captureId,
      userId,
      amountMicros: capture.amountMicros,
      reference: `PayPal capture ${capture.captureId}`,
      occurredAt: capture.createTime ?? this.now().toISOString(),
    };
    const underway = this.crediting.get(event.eventId);
    if (underway) {
      await underway;
      return { status: 'already_credited', event };
    }
    const applying = this.sink!(event).finally(() => this.crediting.delete(event.eventId));
    this.crediting.set(event.eventId, applying);
    return { status: (await applying) ? 'credited' : 'already_credited', event };
  }
}
