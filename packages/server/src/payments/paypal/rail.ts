import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { DepositEvent, DepositSink, PaymentRail, ReversalSink } from '../rail.ts';
import { PayPalClient, type PayPalCapture, type WebhookHeaders } from './client.ts';
import { validatePayPalRailConfig, type PayPalRailConfig, type ValidPayPalRailConfig } from './config.ts';
import { OutboundGuard } from './outbound-guard.ts';
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
 * 4. PAYMENT.CAPTURE.REFUNDED, REVERSED (a chargeback) and DENIED take the money back from the
 *    renter's balance, even below zero, keyed by the refund or capture, once.
 *
 * A webhook is verified with PayPal, and then only its event type and resource ID are used:
 * the capture (or refund) is fetched from PayPal and its amount, custom_id and status are what
 * count, never the body's. Every request from the two unauthenticated routes passes an
 * OutboundGuard first (per-IP rate, a cap on calls at once, a memory of "not ours" answers).
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

/** The request would call PayPal, but too many already do (from this source, or at all): try again later. */
export type Throttled = { status: 'throttled'; message: string };

export type CompletionOutcome =
  | Throttled
  | Credited
  /** The renter has not approved the payment at PayPal (yet): send them to the approve URL again. */
  | { status: 'not_approved'; message: string }
  /** Captured, but the money has not arrived (PENDING) or never will (DECLINED, FAILED). */
  | { status: 'not_completed'; captureId: string; captureStatus: string; message: string }
  /** Not one of our top-ups (an order made by some other integration on the same PayPal account). */
  | { status: 'ignored'; reason: string };

export type WebhookOutcome =
  | Throttled
  | Credited
  /** A refund, chargeback or denial took the money back (or had already). */
  | { status: 'reversed' | 'already_reversed'; event: DepositEvent }
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

/** Capture statuses that mean the money arrived once, whatever happened to it since. */
const arrived = new Set(['COMPLETED', 'PARTIALLY_REFUNDED', 'REFUNDED', 'REVERSED']);

const ResourceId = z.object({ id: z.string().min(1).max(200) });

export class PayPalRail implements PaymentRail {
  readonly name = payPalRailName;
  readonly config: ValidPayPalRailConfig;
  readonly client: PayPalClient;
  readonly guard: OutboundGuard;
  private readonly now: () => Date;
  private sink: DepositSink | undefined;
  private reverse: ReversalSink | undefined;
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
    this.guard = new OutboundGuard({
      perSourcePerMinute: config.callsPerSourcePerMinute ?? 20,
      maxConcurrent: config.maxConcurrentCalls ?? 8,
      now: () => this.now().getTime(),
    });
  }

  /**
   * PayPal pushes to us (webhooks are mounted by the API), so starting only takes the sinks.
   * Without `reverse`, refunds and chargebacks are logged by the caller but change nothing.
   */
  async start(sink: DepositSink, reverse?: ReversalSink): Promise<void> {
    if (this.closed) throw new Error('The PayPal rail is closed.');
    this.sink = sink;
    this.reverse = reverse;
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
  async complete(orderId: string, source = 'local'): Promise<CompletionOutcome> {
    this.ready();
    const notOurs = { status: 'ignored', reason: `PayPal order ${orderId} is not a top-up of this marketplace.` } as const;
    if (this.guard.knownNotOurs(`order:${orderId}`)) return notOurs;
    return this.guarded(source, async () => {
      let capture: PayPalCapture | null;
      try {
        capture = await this.client.captureOrder(orderId);
      } catch (error) {
        if (!(error instanceof PayPalError) || error.kind !== 'http') throw error;
        if (error.issue === 'ORDER_NOT_APPROVED') {
          return { status: 'not_approved', message: 'The payment has not been approved at PayPal yet; approve it there first.' };
        }
        if (error.status === 404) {
          this.guard.markNotOurs(`order:${orderId}`);
          return notOurs;
        }
        if (error.issue !== 'ORDER_ALREADY_CAPTURED') throw error;
        capture = await this.client.findCapture(orderId);
        if (!capture) throw error;
      }
      const userId = userOfTopUp(capture.customId);
      if (!userId) {
        this.guard.markNotOurs(`order:${orderId}`);
        return notOurs;
      }
      return this.creditCompleted(capture, userId);
    });
  }

  private creditCompleted(capture: PayPalCapture, userId: string): Promise<CompletionOutcome> | CompletionOutcome {
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
   * The webhook path: verifies the delivery with PayPal first, then acts on the capture or
   * refund it names as PayPal states it now: credits a completed capture of one of our top-ups,
   * takes back a refund, a reversal or a denial; other event types are ignored. Throws when
   * PayPal cannot be asked (answer 5xx so PayPal delivers again).
   */
  async handleWebhook(headers: WebhookHeaders, rawBody: string | Uint8Array, source = 'local'): Promise<WebhookOutcome> {
    this.ready();
    return this.guarded(source, async (): Promise<WebhookOutcome> => {
      const verified = await this.client.verifyWebhook(headers, rawBody, this.config.webhookId);
      if (!verified) {
        return {
          status: 'rejected',
          message: 'The webhook is not verifiably from PayPal (missing or wrong signature, or a changed body).',
        };
      }
      const text = typeof rawBody === 'string' ? rawBody : new TextDecoder().decode(rawBody);
      const envelope = WebhookEvent.safeParse(JSON.parse(text));
      if (!envelope.success) return { status: 'ignored', reason: 'The webhook is not a PayPal event.' };
      const event = envelope.data;
      const resource = ResourceId.safeParse(event.resource);
      switch (event.event_type) {
        case 'PAYMENT.CAPTURE.COMPLETED':
        case 'PAYMENT.CAPTURE.REFUNDED':
        case 'PAYMENT.CAPTURE.REVERSED':
        case 'PAYMENT.CAPTURE.DENIED':
          if (!resource.success) return { status: 'ignored', reason: `${event.event_type} names no capture or refund.` };
          break;
        default:
          return { status: 'ignored', reason: `${event.event_type} needs no action.` };
      }
      const id = resource.data.id;
      if (event.event_type === 'PAYMENT.CAPTURE.COMPLETED') return this.confirmCompleted(id);
      // PayPal reports a chargeback as a refund-like resource, or on the capture itself.
      if (event.event_type === 'PAYMENT.CAPTURE.REFUNDED' || event.resource_type === 'refund') return this.takeBackRefund(id);
      return this.takeBackCapture(id, event.event_type === 'PAYMENT.CAPTURE.REVERSED' ? 'REVERSED' : 'DENIED');
    });
  }

  /** Runs `call` (which talks to PayPal) if the guard admits a request from `source`. */
  private async guarded<T>(source: string, call: () => Promise<T>): Promise<T | Throttled> {
    const admission = this.guard.admit(source);
    if (!admission.admitted) {
      return {
        status: 'throttled',
        message:
          admission.reason === 'source'
            ? 'Too many payment requests from your address; try again in a minute.'
            : 'Too many payment requests are being checked with PayPal right now; try again in a minute.',
      };
    }
    try {
      return await call();
    } finally {
      admission.release();
    }
  }

  /** The capture as PayPal has it and whose top-up it is, or why there is nothing to do. */
  private async ourCapture(captureId: string): Promise<{ capture: PayPalCapture; userId: string } | { status: 'ignored'; reason: string }> {
    const notOurs = { status: 'ignored', reason: `Capture ${captureId} is not a top-up of this marketplace.` } as const;
    if (this.guard.knownNotOurs(`capture:${captureId}`)) return notOurs;
    const capture = await this.client.getCapture(captureId);
    // Captures carry their order's custom_id; if one ever does not, the order does.
    const customId = capture?.customId ?? (capture?.orderId ? (await this.client.findCapture(capture.orderId))?.customId : undefined);
    const userId = userOfTopUp(customId);
    if (!capture || !userId) {
      this.guard.markNotOurs(`capture:${captureId}`);
      return notOurs;
    }
    return { capture, userId };
  }

  private async confirmCompleted(captureId: string): Promise<WebhookOutcome> {
    const ours = await this.ourCapture(captureId);
    if (!('capture' in ours)) return ours;
    const { capture, userId } = ours;
    if (capture.status !== 'COMPLETED') return { status: 'ignored', reason: `PayPal says capture ${captureId} is ${capture.status}.` };
    return this.credit(capture, userId);
  }

  /** A refund (or a chargeback PayPal reports as one): the refunded amount leaves the renter's balance. */
  private async takeBackRefund(refundId: string): Promise<WebhookOutcome> {
    const refund = await this.client.getRefund(refundId);
    if (!refund?.captureId) return { status: 'ignored', reason: `PayPal knows no refund ${refundId} of a capture.` };
    if (refund.status !== 'COMPLETED') return { status: 'ignored', reason: `PayPal says refund ${refundId} is ${refund.status}.` };
    const ours = await this.ourCapture(refund.captureId);
    if (!('capture' in ours)) return ours;
    const { capture, userId } = ours;
    return this.takeBack(capture, userId, {
      eventId: `refund:${refund.refundId}`,
      amountMicros: refund.amountMicros,
      reference: `PayPal refund ${refund.refundId} of capture ${capture.captureId}`,
      occurredAt: refund.createTime,
      currency: refund.currency,
    });
  }

  /** A chargeback or denial of the whole capture, confirmed by the capture's status at PayPal. */
  private async takeBackCapture(captureId: string, expected: 'REVERSED' | 'DENIED'): Promise<WebhookOutcome> {
    const ours = await this.ourCapture(captureId);
    if (!('capture' in ours)) return ours;
    const { capture, userId } = ours;
    if (capture.status !== expected) return { status: 'ignored', reason: `PayPal says capture ${captureId} is ${capture.status}.` };
    return this.takeBack(capture, userId, {
      eventId: `${expected === 'REVERSED' ? 'reversal' : 'denial'}:${capture.captureId}`,
      amountMicros: capture.amountMicros,
      reference: `PayPal ${expected === 'REVERSED' ? 'chargeback' : 'denial'} of capture ${capture.captureId}`,
      occurredAt: undefined,
      currency: capture.currency,
    });
  }

  /**
   * Takes money back for a capture. The capture's own credit is made sure of first (when the
   * money did arrive once), so a refund webhook that overtakes the capture's still nets to zero.
   */
  private async takeBack(
    capture: PayPalCapture,
    userId: string,
    back: { eventId: string; amountMicros: bigint; reference: string; occurredAt: string | undefined; currency: string },
  ): Promise<WebhookOutcome> {
    if (!this.reverse) return { status: 'ignored', reason: `${back.reference}: this rail takes nothing back (no reversal sink).` };
    if (back.currency !== this.config.currency || capture.currency !== this.config.currency) {
      return { status: 'ignored', reason: `${back.reference} is in ${back.currency}, not ${this.config.currency}; settle it by hand.` };
    }
    if (arrived.has(capture.status)) await this.credit(capture, userId);
    const event = {
      rail: this.name,
      eventId: back.eventId,
      reverses: capture.captureId,
      userId,
      amountMicros: back.amountMicros,
      reference: back.reference,
      occurredAt: back.occurredAt ?? this.now().toISOString(),
    };
    const result = await this.reverse(event);
    if (result === 'not_credited')
      return { status: 'ignored', reason: `${back.reference}: capture ${capture.captureId} was never credited.` };
    return { status: result, event };
  }

  private ready(): void {
    if (this.closed) throw new Error('The PayPal rail is closed.');
    if (!this.sink) throw new Error('The PayPal rail has not been started: call start(sink) first.');
  }

  private async credit(capture: PayPalCapture, userId: string): Promise<Credited | { status: 'ignored'; reason: string }> {
    if (!arrived.has(capture.status)) throw new Error(`capture ${capture.captureId} is ${capture.status}; it cannot be credited`);
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
