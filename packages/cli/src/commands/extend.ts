import { formatMoney } from '@p2pvps/protocol/money';
import { UsageError } from '../cli-error.ts';
import { integerOption, positional, stringOption, type ParsedArgs } from '../command.ts';
import type { Context } from '../context.ts';
import { formatTime, printable } from '../format.ts';
import { autoRenewWords } from './rentals.ts';

/**
 * `extend RENTAL [--hours N] [--auto-renew on|off]`: more hours for a prepaid rental, and/or
 * its auto-renewal switched. The server holds the hours' price from the balance and moves the
 * expiry; its refusals (pay-as-you-go, not enough balance, ended) arrive as its error envelope
 * and are printed as they are.
 */
export async function extendRental(ctx: Context, args: ParsedArgs): Promise<void> {
  const hours = integerOption(args, 'hours', 'extend', 1);
  const switchTo = stringOption(args, 'auto-renew');
  if (switchTo !== undefined && switchTo !== 'on' && switchTo !== 'off') throw new UsageError('--auto-renew is on or off', 'extend');
  if (hours === undefined && switchTo === undefined)
    throw new UsageError('give --hours N, the hours to add, or --auto-renew on|off', 'extend');
  const rental = await ctx.userClient().call('extendRental', {
    params: { rentalId: positional(args, 0) },
    body: { ...(hours !== undefined ? { hours } : {}), ...(switchTo !== undefined ? { autoRenew: switchTo === 'on' } : {}) },
  });
  if (ctx.printJson(rental)) return;
  if (hours !== undefined) {
    const cost = formatMoney((rental.pricePerHourMicros ?? 0) * hours, rental.currency);
    const expires = rental.expiresAt
      ? formatTime(rental.expiresAt, ctx.now())
      : `${rental.prepaidHours ?? hours}h after your container starts`;
    ctx.out(
      `Extended rental ${rental.id} on ${printable(rental.deviceName)} by ${hours} h: ${cost} held from your balance.\n` +
        `It now expires ${expires}.\n`,
    );
  }
  if (switchTo !== undefined) ctx.out(`Auto-renew of rental ${rental.id}: ${autoRenewWords(rental.autoRenew)}.\n`);
}
