import type { DeviceReviews, Review } from '@p2pvps/protocol/review-schemas';
import { UsageError } from '../cli-error.ts';
import { integerOption, positional, stringOption, type ParsedArgs } from '../command.ts';
import type { Context } from '../context.ts';
import { formatTime, printable } from '../format.ts';

/** `★★★★☆`: the stars a rating gave. */
export function starsOf(stars: number): string {
  return '★'.repeat(stars) + '☆'.repeat(5 - stars);
}

/** `4.5 (12)`, or `-` for a device nobody has rated yet. */
export function ratingText(rating: { count: number; average: number | null }): string {
  return rating.average === null ? '-' : `${rating.average.toFixed(1)} (${rating.count})`;
}

/** Text another user wrote, one terminal-safe line after another, indented under its heading. */
function quoted(text: string, indent: string): string {
  return text
    .split('\n')
    .map((line) => `${indent}${printable(line)}`.trimEnd())
    .join('\n');
}

function printReview(ctx: Context, r: Review, now: Date): void {
  const refunded =
    r.refunded === 'full' ? '  (refunded in full after a dispute)' : r.refunded === 'partial' ? '  (partly refunded after a dispute)' : '';
  ctx.out(`${starsOf(r.stars)}  ${formatTime(r.createdAt, now)}  rating ${r.id}${refunded}\n`);
  if (r.comment) ctx.out(`${quoted(r.comment, '  ')}\n`);
  if (r.answer !== null) ctx.out(`  Owner's answer (${formatTime(r.answeredAt, now)}):\n${quoted(r.answer, '    ')}\n`);
}

/** `rate RENTAL --stars N [--comment TEXT]`: rate a rental of yours that has ended, once. */
export async function rate(ctx: Context, args: ParsedArgs): Promise<void> {
  const stars = integerOption(args, 'stars', 'rate', 1);
  if (stars === undefined || stars > 5) throw new UsageError('give --stars 1 to 5', 'rate');
  const comment = stringOption(args, 'comment') ?? '';
  const review = await ctx.userClient().call('rateRental', { params: { rentalId: positional(args, 0) }, body: { stars, comment } });
  if (ctx.printJson(review)) return;
  ctx.out(
    `Rated rental ${review.rentalId} ${starsOf(review.stars)}; it shows on the device's listing (p2pvps reviews ${review.deviceId}).\n`,
  );
}

/** `answer RATING TEXT`: the device's owner answers a rating of it, once. */
export async function answer(ctx: Context, args: ParsedArgs): Promise<void> {
  const review = await ctx
    .userClient()
    .call('answerReview', { params: { reviewId: positional(args, 0) }, body: { answer: positional(args, 1) } });
  if (ctx.printJson(review)) return;
  ctx.out(`Answered rating ${review.id}; your answer shows beside it on the listing.\n`);
}

/** `reviews DEVICE [--limit N]`: a device's ratings, newest first, with its owner's answers. */
export async function reviews(ctx: Context, args: ParsedArgs): Promise<void> {
  const limit = integerOption(args, 'limit', 'reviews', 1);
  const page: DeviceReviews = await ctx.client().call('deviceReviews', {
    params: { deviceId: positional(args, 0) },
    query: limit === undefined ? {} : { limit: Math.min(limit, 100) },
  });
  if (ctx.printJson(page)) return;
  if (page.rating.count === 0) {
    ctx.out(`${printable(page.deviceName)} has no ratings yet.\n`);
    return;
  }
  ctx.out(
    `${printable(page.deviceName)}: ${page.rating.average!.toFixed(1)} of 5 from ${page.rating.count} rating${page.rating.count === 1 ? '' : 's'}\n`,
  );
  const now = ctx.now();
  for (const r of page.reviews) {
    ctx.out('\n');
    printReview(ctx, r, now);
  }
}
