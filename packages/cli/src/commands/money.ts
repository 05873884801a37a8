import { UsageError } from '../cli-error.ts';
import { booleanOption, moneyPositional, positional, stringOption, type ParsedArgs } from '../command.ts';
import type { Context } from '../context.ts';
import { formatTime } from '../format.ts';
import { formatMicros, formatMoney } from '../money.ts';
import { formatTable } from '../table.ts';

/** `balance`: what you can spend on rentals, and what your devices have earned. */
export async function balance(ctx: Context): Promise<void> {
  const reply = await ctx.userClient().call('getBalance');
  if (ctx.printJson(reply)) return;
  ctx.out(
    `Balance   ${formatMoney(reply.balanceMicros, reply.currency)}\nEarnings  ${formatMoney(reply.earningsMicros, reply.currency)}\n`,
  );
}

/** `statement [--csv]`: every movement on your balance and earnings. */
export async function statement(ctx: Context, args: ParsedArgs): Promise<void> {
  const reply = await ctx.userClient().call('getStatement');
  if (ctx.printJson(reply)) return;
  const account = (a: string) => (a === 'renter_balance' ? 'balance' : a === 'owner_earnings' ? 'earnings' : a);
  if (booleanOption(args, 'csv')) {
    const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    const lines = reply.lines.map((l) =>
      [l.at, account(l.account), l.kind, quote(l.memo), l.rentalId ?? '', formatMicros(l.amountMicros), reply.currency].join(','),
    );
    ctx.out(['time,account,kind,memo,rental,amount,currency', ...lines].join('\n') + '\n');
    return;
  }
  if (reply.lines.length === 0) {
    ctx.out('Nothing yet: no top-ups, charges or earnings.\n');
    return;
  }
  const now = ctx.now();
  ctx.out(
    formatTable(
      ['TIME', 'ACCOUNT', 'WHAT', 'AMOUNT'],
      reply.lines.map((l) => [formatTime(l.at, now), account(l.account), l.memo, formatMoney(l.amountMicros, reply.currency)]),
    ),
  );
}

/** `admin credit EMAIL AMOUNT [--remove] [--memo TEXT]`: the operator grants (or takes back) credit. */
export async function adminCredit(ctx: Context, args: ParsedArgs): Promise<void> {
  const email = positional(args, 0);
  let amountMicros = moneyPositional(args, 1, 'AMOUNT', 'admin credit');
  if (amountMicros === 0) throw new UsageError('AMOUNT must be more than 0', 'admin credit');
  if (booleanOption(args, 'remove')) amountMicros = -amountMicros;
  const memo = stringOption(args, 'memo');
  const reply = await ctx.userClient().call('adminCredit', { body: { email, amountMicros, ...(memo ? { memo } : {}) } });
  if (ctx.printJson(reply)) return;
  const { currency } = await ctx.userClient().call('serverInfo');
  ctx.out(
    `${amountMicros > 0 ? 'Granted' : 'Removed'} ${formatMoney(Math.abs(amountMicros), currency)}; ${reply.email} now has ${formatMoney(reply.balanceMicros, currency)}.\n`,
  );
}
