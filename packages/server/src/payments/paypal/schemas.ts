import { z } from 'zod';

/**
 * The parts of PayPal's replies and webhook events this rail depends on, parsed before use.
 * Unknown fields are dropped; a reply missing a field we need is an `invalid_response`.
 * (They live here rather than in `protocol` because they describe PayPal's API, not ours.)
 */

/** POST /v1/oauth2/token (client credentials). */
export const TokenReply = z.object({
  access_token: z.string().min(1),
  token_type: z.string(),
  /** Seconds the token is valid for (PayPal issues about nine hours). */
  expires_in: z.number().int().positive(),
});

export const Link = z.object({ href: z.string(), rel: z.string(), method: z.string().optional() });

export const Money = z.object({ currency_code: z.string(), value: z.string() });

/** A captured payment, as inside an order and as a PAYMENT.CAPTURE.* webhook resource. */
export const Capture = z.object({
  id: z.string().min(1),
  status: z.string(),
  amount: Money,
  custom_id: z.string().optional(),
  create_time: z.string().optional(),
  supplementary_data: z.object({ related_ids: z.object({ order_id: z.string().optional() }).optional() }).optional(),
});
export type Capture = z.infer<typeof Capture>;

/** GET /v2/payments/refunds/{id}, and a PAYMENT.CAPTURE.REFUNDED webhook resource; its "up" link names the capture. */
export const Refund = z.object({
  id: z.string().min(1),
  status: z.string(),
  amount: Money,
  create_time: z.string().optional(),
  links: z.array(Link).optional(),
});
export type Refund = z.infer<typeof Refund>;

/** POST /v2/checkout/orders, GET /v2/checkout/orders/{id}, POST …/{id}/capture. */
export const Order = z.object({
  id: z.string().min(1),
  status: z.string(),
  links: z.array(Link).optional(),
  purchase_units: z
    .array(
      z.object({
        custom_id: z.string().optional(),
        amount: Money.optional(),
        payments: z.object({ captures: z.array(Capture).optional() }).optional(),
      }),
    )
    .optional(),
});
export type Order = z.infer<typeof Order>;

/** POST /v1/notifications/verify-webhook-signature. */
export const VerifyWebhookReply = z.object({ verification_status: z.string() });

/** The envelope of every webhook event; `resource` is parsed by event type. */
export const WebhookEvent = z.object({
  id: z.string().min(1),
  event_type: z.string(),
  resource_type: z.string().optional(),
  create_time: z.string().optional(),
  resource: z.unknown(),
});

/** PayPal's REST error body, and the OAuth endpoint's own shape. */
export const ErrorReply = z.object({
  name: z.string().optional(),
  message: z.string().optional(),
  debug_id: z.string().optional(),
  details: z.array(z.object({ issue: z.string().optional(), description: z.string().optional(), field: z.string().optional() })).optional(),
  error: z.string().optional(),
  error_description: z.string().optional(),
});
export type ErrorReply = z.infer<typeof ErrorReply>;
