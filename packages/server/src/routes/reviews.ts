import { routes } from '@p2pvps/protocol/routes';
import type { FastifyInstance } from 'fastify';
import type { DomainContext } from '../domain/context.ts';
import {
  disputeOfRental,
  openDispute,
  operatorDispute,
  operatorDisputes,
  renterDisputes,
  resolveDispute,
} from '../domain/reviews/disputes.ts';
import { answerReview, deviceReviews, rateRental, reviewOfRental } from '../domain/reviews/reviews.ts';
import { getRental } from '../domain/rentals/rentals.ts';
import { mount, type Authenticator } from './register.ts';

/** Ratings of rentals and devices, and renters' disputes with the operator's decisions. */
export function reviewRoutes(app: FastifyInstance, auth: Authenticator, ctx: DomainContext): void {
  const me = (c: { user?: { user: { id: string } } }) => c.user!.user.id;
  mount(app, auth, routes.rateRental, ({ params, body }, c) => rateRental(ctx, me(c), params.rentalId, body));
  mount(app, auth, routes.rentalFeedback, async ({ params }, c) => {
    // Only the renter's own rental (404 otherwise, like the rental itself).
    await getRental(ctx, me(c), params.rentalId);
    return { review: await reviewOfRental(ctx, params.rentalId), dispute: await disputeOfRental(ctx, params.rentalId) };
  });
  mount(app, auth, routes.answerReview, ({ params, body }, c) => answerReview(ctx, me(c), params.reviewId, body.answer));
  mount(app, auth, routes.deviceReviews, ({ params, query }) => deviceReviews(ctx, params.deviceId, query.limit));
  mount(app, auth, routes.openDispute, ({ params, body }, c) => openDispute(ctx, me(c), params.rentalId, body.reason));
  mount(app, auth, routes.listDisputes, async (_, c) => ({ disputes: await renterDisputes(ctx, me(c)) }));
  mount(app, auth, routes.adminDisputes, async ({ query }) => ({ disputes: await operatorDisputes(ctx, query.state) }));
  mount(app, auth, routes.adminDispute, ({ params }) => operatorDispute(ctx, params.disputeId));
  mount(app, auth, routes.adminResolveDispute, ({ params, body }) => resolveDispute(ctx, params.disputeId, body));
}
