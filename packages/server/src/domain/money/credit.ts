import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { balanceOf, post } from './ledger.ts';
import { formatMoney } from './money.ts';
import { inTransaction } from '../../db/transactions.ts';

/**
 * The operator-credit rail: the operator grants credit to a user's balance, or takes
 * some back (a negative amount, never more than the balance holds). On by default, so
 * the embedded demo works without any outside payment service.
 */
export async function grantCredit(ctx: DomainContext, userId: string, amountMicros: bigint, memo: string): Promise<bigint> {
  if (amountMicros === 0n)
    throw new DomainError('invalid_request', 'The amount must not be zero.', { 'body.amountMicros': 'must not be zero' });
  return inTransaction(ctx.db, async (trx) => {
    const user = await trx.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
    if (!user) throw new DomainError('not_found');
    const balance = await balanceOf(trx, { kind: 'renter_balance', userId });
    if (balance + amountMicros < 0n) {
      throw new DomainError(
        'insufficient_balance',
        `Cannot remove ${formatMoney(-amountMicros, ctx.settings.currency)}: the balance is ${formatMoney(balance, ctx.settings.currency)}.`,
      );
    }
    await post(trx, {
      kind: amountMicros > 0n ? 'credit' : 'credit_removal',
      memo: memo || (amountMicros > 0n ? 'credit from the operator' : 'credit removed by the operator'),
      at: ctx.clock.now().toISOString(),
      postings: [
        { kind: 'rail_clearing', rail: 'operator', amount: -amountMicros },
        { kind: 'renter_balance', userId, amount: amountMicros },
      ],
    });
    return balance + amountMicros;
  });
}
