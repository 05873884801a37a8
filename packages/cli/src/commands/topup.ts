import type { TopUpCoin, TopUpRail } from '@p2pvps/protocol/schemas';
import { UsageError } from '../cli-error.ts';
import { moneyPositional, type ParsedArgs } from '../command.ts';
import type { Context } from '../context.ts';
import { formatMoney } from '@p2pvps/protocol/money';

const usage = 'topup';

/** "BTC at 65000.00 USD", or why the coin is not quoted now. */
function quote(coin: TopUpCoin, currency: string): string {
  return coin.unavailable ? `${coin.symbol} not now (${coin.unavailable})` : `${coin.symbol} at ${coin.rate} ${currency}`;
}

/** One line per rail: how it tops up, at what rate, after how many confirmations. */
function describe(rail: TopUpRail, currency: string): string {
  const plural = (n: number) => `${n} confirmation${n === 1 ? '' : 's'}`;
  switch (rail.name) {
    case 'operator':
      return 'operator   credit granted by the operator (ask them)';
    case 'paypal':
      return `paypal     pay in ${rail.currency} at PayPal: p2pvps topup paypal AMOUNT`;
    case 'ethereum':
      return `ethereum   ${rail.coins.map((c) => quote(c, currency)).join(', ')}; credited after ${plural(rail.confirmations)}: p2pvps topup ethereum`;
    case 'bitcoin':
      return `bitcoin    ${rail.coins.map((c) => quote(c, currency)).join(', ')}; credited after ${plural(rail.confirmations)}: p2pvps topup bitcoin`;
  }
}

/** `topup [paypal AMOUNT | ethereum | bitcoin]`: the ways to top up, or one of them. */
export async function topUp(ctx: Context, args: ParsedArgs): Promise<void> {
  const [rail, amount] = args.positionals;
  if (rail === undefined) {
    const reply = await ctx.client().call('topUpRails');
    if (ctx.printJson(reply)) return;
    ctx.out(`Ways to top up your balance here:\n${reply.rails.map((r) => `  ${describe(r, reply.currency)}`).join('\n')}\n`);
    return;
  }
  if (rail === 'paypal') {
    if (amount === undefined) throw new UsageError('missing AMOUNT (how much to top up, like 20 or 12.50)', usage);
    const amountMicros = moneyPositional(args, 1, 'AMOUNT', usage);
    if (amountMicros === 0) throw new UsageError('AMOUNT must be more than 0', usage);
    const reply = await ctx.userClient().call('startPayPalTopUp', { body: { amountMicros } });
    if (ctx.printJson(reply)) return;
    ctx.out(
      `Open this link in a browser and pay ${formatMoney(reply.amountMicros, reply.currency)} at PayPal:\n\n  ${reply.approveUrl}\n\n` +
        'PayPal then sends you back here and your balance is credited (see p2pvps balance).\n',
    );
    return;
  }
  if (rail === 'ethereum' || rail === 'bitcoin') {
    if (amount !== undefined) throw new UsageError(`unexpected argument "${amount}": send any amount to your address`, usage);
    const reply = await ctx.userClient().call(rail === 'ethereum' ? 'ethereumDepositAddress' : 'bitcoinDepositAddress');
    if (ctx.printJson(reply)) return;
    const { currency } = await ctx.client().call('serverInfo');
    const coins = reply.coins
      .filter((c) => !c.unavailable)
      .map((c) => `${c.symbol}${c.contract ? ` (contract ${c.contract})` : ''} at ${c.rate} ${currency}`)
      .join(', ');
    const notNow = reply.coins.filter((c) => c.unavailable).map((c) => `Do not send ${c.symbol} now: ${c.unavailable}\n`);
    const network = rail === 'ethereum' ? `chain ID ${reply.chain}` : reply.chain;
    ctx.out(
      `Your ${rail === 'ethereum' ? 'Ethereum' : 'Bitcoin'} deposit address (${network}):\n\n  ${reply.address}\n\n` +
        `Send ${coins} to it; your balance is credited after ${reply.confirmations} confirmation${reply.confirmations === 1 ? '' : 's'}.\n` +
        'The address is yours alone and stays the same.\n' +
        (reply.watchedUntil
          ? `It is watched for payments until ${reply.watchedUntil.slice(0, 16).replace('T', ' ')} UTC; paying later, run p2pvps topup ${rail} again first.\n`
          : '') +
        notNow.join(''),
    );
    return;
  }
  throw new UsageError(`unknown payment rail "${rail}"; use paypal, ethereum or bitcoin (p2pvps topup lists those enabled)`, usage);
}
