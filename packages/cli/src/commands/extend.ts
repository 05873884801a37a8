import { formatMoney } from '@p2pvps/protocol/money';
import { UsageError } from '../cli-error.ts';
import { integerOption, positional, type ParsedArgs } from '../command.ts';
import type { Context } from '../context.ts';
import { formatTime, printable } from '../format.ts';

/**
 * `extend RENTAL --hours N`: more hours for a prepaid rental. The server holds their price
 * from the balance and moves the expiry; its refusals (pay-as-you-go, not enough balance,
 * ended) arrive as its error envelope and are printed as they are.
 */
export async function extendRental(ctx: Context, args: ParsedArgs): Promise<void> {
  const hours = integerOption(args, 'hours', 'extend', 1);
  if (hours === undefined) throw new UsageError('give --hours N, the hours to add', 'extend');
  const rental = await ctx.userClient().call('extendRental', { params: { rentalId: positional(args, 0) }, body: { hours } });
  if (ctx.printJson(rental)) return;
  const cost = formatMoney((rental.pricePerHourMicros ?? 0) * hours, rental.currency);
  const expires = rental.expiresAt
    ? formatTime(rental.expiresAt, ctx.now())
    : `${rental.prepaidHours ?? hours}h after your container starts`;
  ctx.out(
    `Extended rental ${rental.id} on ${printable(rental.deviceName)} by ${hours} h: ${cost} held from your balance.\n` +
      `It now expires ${expires}.\n`,
  );
}
