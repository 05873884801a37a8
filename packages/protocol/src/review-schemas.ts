import { z } from 'zod';
import { Id, Micros, RatingSummary } from './schemas.ts';

/**
 * Ratings and disputes: what renters write about a rental, what owners answer, and what the
 * operator decides. Everything here is text one person writes for others to read, so it is
 * bounded and may not carry control characters (a newline is allowed) or the bidirectional
 * overrides that make text read differently from what it says.
 */
const isoTime = z.string().datetime({ offset: true });
const unreadable = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
export const WrittenText = (min: number, max: number) =>
  z
    .string()
    .trim()
    .min(min, min === 1 ? 'must not be empty' : `must be at least ${min} characters`)
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !unreadable.test(s), 'must not contain control characters (other than a new line) or direction overrides');

export const reviewLimits = { comment: 500, answer: 500, reason: 1000, note: 1000 } as const;

export const ReviewParams = z.object({ reviewId: Id }).strict();
export const DisputeParams = z.object({ disputeId: Id }).strict();

export const RateBody = z
  .object({
    stars: z.number().int().min(1, 'must be 1 to 5').max(5, 'must be 1 to 5'),
    comment: WrittenText(0, reviewLimits.comment).default(''),
  })
  .strict();
export const AnswerBody = z.object({ answer: WrittenText(1, reviewLimits.answer) }).strict();

export const Review = z.object({
  id: Id,
  rentalId: Id,
  deviceId: Id,
  stars: z.number().int().min(1).max(5),
  comment: z.string(),
  createdAt: isoTime,
  /** The device owner's one answer. */
  answer: z.string().nullable(),
  answeredAt: isoTime.nullable(),
  /** Whether the operator refunded the rental after a dispute (all of it, part, or none): the rating stays, marked. */
  refunded: z.enum(['full', 'partial']).nullable(),
});
export type Review = z.infer<typeof Review>;

export const DeviceReviewsQuery = z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) }).strict();
export const DeviceReviews = z.object({
  deviceId: Id,
  deviceName: z.string(),
  rating: RatingSummary,
  /** The newest first. */
  reviews: z.array(Review),
});
export type DeviceReviews = z.infer<typeof DeviceReviews>;

export const DisputeBody = z.object({ reason: WrittenText(1, reviewLimits.reason) }).strict();
export const DisputeState = z.enum(['open', 'refunded', 'rejected']);
export const Dispute = z.object({
  id: Id,
  rentalId: Id,
  deviceName: z.string(),
  state: DisputeState,
  reason: z.string(),
  openedAt: isoTime,
  resolvedAt: isoTime.nullable(),
  /** What the operator gave back to the renter's balance. */
  refundMicros: z.number().int(),
  /** The operator's words to the renter. */
  note: z.string().nullable(),
  currency: z.string(),
});
export type Dispute = z.infer<typeof Dispute>;
export const Disputes = z.object({ disputes: z.array(Dispute) });

/** What the renter said about one rental of theirs: their rating and their dispute, when they exist. */
export const RentalFeedback = z.object({ review: Review.nullable(), dispute: Dispute.nullable() });
export type RentalFeedback = z.infer<typeof RentalFeedback>;

export const RentalEvent = z.object({ at: isoTime, kind: z.string(), detail: z.string().nullable() });
export type RentalEvent = z.infer<typeof RentalEvent>;

/** The facts of the rental a dispute is about, for the operator to judge it by. */
export const DisputeFacts = Dispute.extend({
  deviceId: Id,
  renterEmail: z.string(),
  ownerEmail: z.string(),
  rental: z.object({
    state: z.string(),
    endReason: z.string().nullable(),
    detail: z.string().nullable(),
    createdAt: isoTime,
    activatedAt: isoTime.nullable(),
    endedAt: isoTime.nullable(),
    prepaidHours: z.number().int().nullable(),
    pricePerHourMicros: z.number().int().nullable(),
    /** What the renter paid for it (the most a refund can be), and the marketplace's fee within it. */
    paidMicros: z.number().int(),
    feeMicros: z.number().int(),
    billedMinutes: z.number().int(),
    /** Bytes visitors sent to the container and it sent back, through SSH, HTTP and HTTPS. */
    bytesIn: z.number().int(),
    bytesOut: z.number().int(),
    /** From the container's start to the rental's end (or now): minutes the device's tunnel was down, and the share up. */
    offlineMinutes: z.number().int().nullable(),
    uptimePercent: z.number().min(0).max(100).nullable(),
  }),
  /** What the server saw happen to the rental, oldest first. */
  events: z.array(RentalEvent),
});
export type DisputeFacts = z.infer<typeof DisputeFacts>;

export const AdminDisputesQuery = z.object({ state: DisputeState.optional() }).strict();
export const AdminDisputes = z.object({ disputes: z.array(DisputeFacts) });

export const ResolveDisputeBody = z.discriminatedUnion('outcome', [
  z
    .object({
      outcome: z.literal('refund'),
      /** Given back to the renter's balance: more than 0, at most what the rental was paid. */
      refundMicros: Micros.refine((n) => n > 0, 'must be more than 0'),
      note: WrittenText(0, reviewLimits.note).default(''),
    })
    .strict(),
  z.object({ outcome: z.literal('reject'), note: WrittenText(1, reviewLimits.note) }).strict(),
]);
export type ResolveDisputeBody = z.infer<typeof ResolveDisputeBody>;
