import { UsageError } from '../cli-error.ts';
import { booleanOption, integerOption, moneyPositional, positional, stringOption, type ParsedArgs } from '../command.ts';
import type { Context } from '../context.ts';
import { formatTime } from '../format.ts';
import { formatMicros, formatMoney } from '@p2pvps/protocol/money';
import { formatTable } from '../table.ts';
import { statementCsvPath } from '@p2pvps/protocol/routes';
import { pageLimits, type Payout } from '@p2pvps/protocol/schemas';
import { collectPages } from '../pages.ts';

/** `balance`: what you can spend on rentals, and what your devices have earned. */
export async function balance(ctx: Context): Promise<void> {
  const reply = await ctx.userClient().call('getBalance');
  if (ctx.printJson(reply)) return;
  ctx.out(
    `Balance   ${formatMoney(reply.balanceMicros, reply.currency)}\nEarnings  ${formatMoney(reply.earningsMicros, reply.currency)}\n`,
  );
}

/** `statement [--csv] [--limit N]`: every movement on your balance and earnings, fetched a page at a time. */
export async function statement(ctx: Context, args: ParsedArgs): Promise<void> {
  if (booleanOption(args, 'csv')) {
    // The server streams the whole statement as CSV; pass it on as it comes.
    const decoder = new TextDecoder();
    for await (const chunk of await ctx.userClient().download(statementCsvPath)) ctx.out(decoder.decode(chunk, { stream: true }));
    ctx.out(decoder.decode());
    return;
  }
  let currency = '';
  const lines = await collectPages(
    async (page) => {
      const r = await ctx.userClient().call('getStatement', { query: page });
      currency = r.currency;
      return { items: r.lines, next: r.next };
    },
    { max: integerOption(args, 'limit', 'statement', 1), pageSize: pageLimits.statement },
  );
  if (ctx.printJson({ currency, lines })) return;
  const names: Record<string, string> = {
    renter_balance: 'balance',
    rental_hold: 'prepaid',
    owner_earnings: 'earnings',
    payouts_pending: 'payouts',
  };
  const account = (a: string) => names[a] ?? a;
  if (lines.length === 0) {
    ctx.out('Nothing yet: no top-ups, charges or earnings.\n');
    return;
  }
  const now = ctx.now();
  ctx.out(
    formatTable(
      ['TIME', 'ACCOUNT', 'WHAT', 'AMOUNT'],
      lines.map((l) => [formatTime(l.at, now), account(l.account), l.memo, formatMoney(l.amountMicros, currency)]),
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

/** `earnings`: what your devices have earned, per device and per rental, and where the money is. */
export async function earnings(ctx: Context): Promise<void> {
  const e = await ctx.userClient().call('getEarnings');
  if (ctx.printJson(e)) return;
  const money = (m: number) => formatMoney(m, e.currency);
  ctx.out(`Available ${money(e.availableMicros)}\nRequested ${money(e.pendingPayoutMicros)}\nPaid out  ${money(e.paidOutMicros)}\n`);
  if (e.devices.length === 0) {
    ctx.out('\nYou have no devices yet: `p2pvps devices add NAME` enrols one.\n');
    return;
  }
  ctx.out(
    '\n' +
      formatTable(
        ['DEVICE', 'RENTALS', 'EARNED'],
        e.devices.map((d) => [d.deviceName, String(d.rentals), money(d.earnedMicros)]),
      ),
  );
  if (e.rentals.length === 0) return;
  const now = ctx.now();
  ctx.out(
    '\n' +
      formatTable(
        ['RENTAL', 'DEVICE', 'STATE', 'STARTED', 'MINUTES', 'CHARGED', 'FEE', 'EARNED'],
        e.rentals.map((r) => [
          r.rentalId,
          r.deviceName,
          r.state,
          formatTime(r.createdAt, now),
          String(r.minutesBilled),
          money(r.chargedMicros),
          money(r.feeMicros),
          money(r.earnedMicros),
        ]),
      ),
  );
}

function printPayouts(ctx: Context, payouts: Payout[], withOwner: boolean): void {
  if (payouts.length === 0) {
    ctx.out('No payouts.\n');
    return;
  }
  const now = ctx.now();
  ctx.out(
    formatTable(
      ['ID', ...(withOwner ? ['OWNER'] : []), 'AMOUNT', 'STATE', 'TO', 'REQUESTED', 'PAID BY'],
      payouts.map((p) => [
        p.id,
        ...(withOwner ? [p.email] : []),
        formatMoney(p.amountMicros, p.currency),
        p.state,
        p.destination,
        formatTime(p.requestedAt, now),
        p.rail ? `${p.rail} ${p.reference ?? ''}` : '',
      ]),
    ),
  );
}

function printPayout(ctx: Context, p: Payout, what: string): void {
  if (ctx.printJson(p)) return;
  ctx.out(`${what} payout ${p.id}: ${formatMoney(p.amountMicros, p.currency)} to ${p.destination} (${p.state}).\n`);
}

/** `payout request AMOUNT --to DESTINATION`: ask the operator to pay out earnings. */
export async function payoutRequest(ctx: Context, args: ParsedArgs): Promise<void> {
  const amountMicros = moneyPositional(args, 0, 'AMOUNT', 'payout request');
  if (amountMicros === 0) throw new UsageError('AMOUNT must be more than 0', 'payout request');
  const destination = stringOption(args, 'to');
  if (!destination) throw new UsageError('say where to pay with --to (a PayPal email, an account, an address)', 'payout request');
  const p = await ctx.userClient().call('requestPayout', { body: { amountMicros, destination } });
  printPayout(ctx, p, 'Requested');
  if (!ctx.json) ctx.out('The amount is set aside from your earnings until the operator pays it (or you cancel it before they start).\n');
}

/** `payout list`: your payout requests. */
export async function payoutList(ctx: Context): Promise<void> {
  const { payouts } = await ctx.userClient().call('listPayouts');
  if (ctx.printJson({ payouts })) return;
  printPayouts(ctx, payouts, false);
}

/** `payout cancel ID`: cancel a payout the operator has not started paying. */
export async function payoutCancel(ctx: Context, args: ParsedArgs): Promise<void> {
  printPayout(ctx, await ctx.userClient().call('cancelPayout', { params: { payoutId: positional(args, 0) }, body: {} }), 'Cancelled');
}

/** `admin payouts [--state STATE]`: the operator's list of payout requests. */
export async function adminPayouts(ctx: Context, args: ParsedArgs): Promise<void> {
  const state = stringOption(args, 'state');
  if (state !== undefined && !['requested', 'processing', 'paid', 'cancelled'].includes(state)) {
    throw new UsageError(`--state must be requested, processing, paid or cancelled, not "${state}"`, 'admin payouts');
  }
  const reply = await ctx.userClient().call('adminPayouts', { query: state ? { state: state as Payout['state'] } : {} });
  if (ctx.printJson(reply)) return;
  printPayouts(ctx, reply.payouts, true);
}

/** `admin payout-start ID`: claim a requested payout before paying it, so its owner can no longer cancel it. */
export async function adminPayoutStart(ctx: Context, args: ParsedArgs): Promise<void> {
  const p = await ctx.userClient().call('adminStartPayout', { params: { payoutId: positional(args, 0) }, body: {} });
  printPayout(ctx, p, 'Started');
  if (!ctx.json) ctx.out(`Pay it now, then record it: p2pvps admin payout-paid ${p.id} --rail RAIL --reference REF\n`);
}

/** `admin payout-paid ID --rail RAIL --reference REF`: record a started payout as made. */
export async function adminPayoutPaid(ctx: Context, args: ParsedArgs): Promise<void> {
  const rail = stringOption(args, 'rail');
  const reference = stringOption(args, 'reference');
  if (!rail || !reference)
    throw new UsageError('give the rail it went by and its reference there: --rail paypal --reference ID', 'admin payout-paid');
  const p = await ctx.userClient().call('adminPayoutPaid', { params: { payoutId: positional(args, 0) }, body: { rail, reference } });
  printPayout(ctx, p, 'Paid');
}

/** `admin payout-cancel ID`: cancel an owner's payout request. */
export async function adminPayoutCancel(ctx: Context, args: ParsedArgs): Promise<void> {
  printPayout(ctx, await ctx.userClient().call('adminCancelPayout', { params: { payoutId: positional(args, 0) }, body: {} }), 'Cancelled');
}

/** `admin ledger`: the books at a glance; the total is zero or something is wrong. */
export async function adminLedger(ctx: Context): Promise<void> {
  const reply = await ctx.userClient().call('adminLedger');
  if (ctx.printJson(reply)) return;
  const money = (m: number) => formatMoney(m, reply.currency);
  ctx.out(
    formatTable(
      ['ACCOUNTS', 'COUNT', 'BALANCE'],
      reply.accounts.map((a) => [a.kind, String(a.accounts), money(a.balanceMicros)]),
    ),
  );
  ctx.out(`\nTotal ${money(reply.totalMicros)}${reply.totalMicros === 0 ? ' (balanced)' : ' — THE BOOKS DO NOT BALANCE'}\n`);
}

/** `admin rate COIN RATE`: the operator feeds a chain coin's rate; `ethereum` and `bitcoin` name ETH and BTC. */
export async function adminRate(ctx: Context, args: ParsedArgs): Promise<void> {
  const given = positional(args, 0);
  const coin = ({ ethereum: 'ETH', bitcoin: 'BTC' } as Record<string, string>)[given.toLowerCase()] ?? given;
  const reply = await ctx.userClient().call('adminSetRate', { body: { coin, rate: positional(args, 1) } });
  if (ctx.printJson(reply)) return;
  ctx.out(
    reply.usable
      ? `${reply.coin} is now quoted and credited at ${reply.rate}.\n`
      : `${reply.coin} is set to ${reply.rate}, but not used yet: ${reply.unavailable}\n`,
  );
}
