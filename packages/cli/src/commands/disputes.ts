import type { AdminDisputesQuery, Dispute, DisputeFacts } from '@p2pvps/protocol/review-schemas';
import { formatMoney } from '@p2pvps/protocol/money';
import type { z } from 'zod';
import { UsageError } from '../cli-error.ts';
import { moneyPositional, positional, stringOption, type ParsedArgs } from '../command.ts';
import type { Context } from '../context.ts';
import { formatTime, printable } from '../format.ts';
import { formatSize } from '../size.ts';
import { formatDetails, formatTable } from '../table.ts';

/** What became of a dispute, in a few words. */
function outcome(d: Dispute): string {
  if (d.state === 'open') return 'open: the operator has not decided yet';
  if (d.state === 'refunded') return `refunded ${formatMoney(d.refundMicros, d.currency)}`;
  return 'rejected';
}

/** `dispute RENTAL --reason TEXT`: report a problem with a rental, while it runs or up to 14 days after. */
export async function dispute(ctx: Context, args: ParsedArgs): Promise<void> {
  const reason = stringOption(args, 'reason');
  if (!reason) throw new UsageError('say what went wrong: --reason "..."', 'dispute');
  const d = await ctx.userClient().call('openDispute', { params: { rentalId: positional(args, 0) }, body: { reason } });
  if (ctx.printJson(d)) return;
  ctx.out(
    `Opened dispute ${d.id} about rental ${d.rentalId} on ${printable(d.deviceName)}.\nThe operator will look at it; you are mailed the outcome, and p2pvps disputes shows it.\n`,
  );
}

/** `disputes`: your disputes and what the operator decided. */
export async function disputes(ctx: Context): Promise<void> {
  const reply = await ctx.userClient().call('listDisputes');
  if (ctx.printJson(reply)) return;
  if (reply.disputes.length === 0) {
    ctx.out('You have no disputes.\n');
    return;
  }
  const now = ctx.now();
  for (const [i, d] of reply.disputes.entries()) {
    if (i > 0) ctx.out('\n');
    ctx.out(
      formatDetails([
        ['Dispute', d.id],
        ['Rental', `${d.rentalId} on ${d.deviceName}`],
        ['Opened', formatTime(d.openedAt, now)],
        ['Reason', d.reason.replace(/\n/g, ' ')],
        ['Outcome', outcome(d)],
        ...(d.resolvedAt ? ([['Decided', formatTime(d.resolvedAt, now)]] as const) : []),
        ...(d.note ? ([['Note', d.note.replace(/\n/g, ' ')]] as const) : []),
      ]),
    );
  }
}

/** `admin disputes [--state open|refunded|rejected|all]`: the operator's list, oldest first; open ones unless told. */
export async function adminDisputes(ctx: Context, args: ParsedArgs): Promise<void> {
  const state = stringOption(args, 'state') ?? 'open';
  if (!['open', 'refunded', 'rejected', 'all'].includes(state)) {
    throw new UsageError(`--state must be open, refunded, rejected or all, not "${state}"`, 'admin disputes');
  }
  const query: z.input<typeof AdminDisputesQuery> = state === 'all' ? {} : { state: state as Dispute['state'] };
  const reply = await ctx.userClient().call('adminDisputes', { query });
  if (ctx.printJson(reply)) return;
  if (reply.disputes.length === 0) {
    ctx.out(state === 'all' ? 'No disputes.\n' : `No ${state} disputes.\n`);
    return;
  }
  const now = ctx.now();
  ctx.out(
    formatTable(
      ['DISPUTE', 'OPENED', 'RENTER', 'DEVICE', { header: 'PAID', align: 'right' }, { header: 'UPTIME', align: 'right' }, 'STATE'],
      reply.disputes.map((d) => [
        d.id,
        formatTime(d.openedAt, now),
        d.renterEmail,
        d.deviceName,
        formatMoney(d.rental.paidMicros, d.currency),
        d.rental.uptimePercent === null ? '-' : `${d.rental.uptimePercent}%`,
        d.state,
      ]),
    ),
  );
  if (state === 'open') ctx.out('See one with its facts: p2pvps admin dispute DISPUTE\n');
}

function printFacts(ctx: Context, d: DisputeFacts): void {
  const now = ctx.now();
  const r = d.rental;
  const money = (m: number) => formatMoney(m, d.currency);
  ctx.out(
    formatDetails([
      ['Dispute', `${d.id} (${outcome(d)})`],
      ['Opened', formatTime(d.openedAt, now)],
      ['Renter', d.renterEmail],
      ['Reason', d.reason.replace(/\n/g, ' ')],
      ['Device', `${d.deviceName} (${d.deviceId}), owner ${d.ownerEmail}`],
      [
        'Rental',
        `${d.rentalId}, ${r.state}${r.endReason ? `: ${r.endReason}` : ''}${r.detail ? ` (${r.detail.replace(/\n/g, ' ')})` : ''}`,
      ],
      ['Rented', formatTime(r.createdAt, now)],
      ['Started', formatTime(r.activatedAt, now)],
      ['Ended', formatTime(r.endedAt, now)],
      [
        'Terms',
        `${r.pricePerHourMicros === null ? '-' : `${money(r.pricePerHourMicros)}/h`}, ${r.prepaidHours === null ? 'pay as you go' : `${r.prepaidHours} h prepaid`}`,
      ],
      ['Paid', `${money(r.paidMicros)} for ${r.billedMinutes} min (marketplace fee ${money(r.feeMicros)})`],
      [
        'Uptime',
        r.uptimePercent === null ? 'not known (no log of the container running)' : `${r.uptimePercent}% (${r.offlineMinutes} min offline)`,
      ],
      ['Traffic', `${formatSize(r.bytesIn)} in, ${formatSize(r.bytesOut)} out`],
      ...(d.resolvedAt ? ([['Decided', formatTime(d.resolvedAt, now)]] as const) : []),
      ...(d.note ? ([['Note', d.note.replace(/\n/g, ' ')]] as const) : []),
    ]),
  );
  ctx.out('\nLog:\n');
  ctx.out(
    d.events.length === 0
      ? '  (none kept for this rental)\n'
      : formatTable(
          ['  TIME', 'EVENT', 'DETAIL'],
          d.events.map((e) => [`  ${formatTime(e.at, now)}`, e.kind.replaceAll('_', ' '), e.detail ?? '']),
        ),
  );
}

/** `admin dispute DISPUTE`: one dispute with its rental's facts. */
export async function adminDispute(ctx: Context, args: ParsedArgs): Promise<void> {
  const d = await ctx.userClient().call('adminDispute', { params: { disputeId: positional(args, 0) } });
  if (ctx.printJson(d)) return;
  printFacts(ctx, d);
  if (d.state === 'open') {
    ctx.out(
      `\nDecide: p2pvps admin dispute-refund ${d.id} AMOUNT [--note TEXT] (at most ${formatMoney(d.rental.paidMicros, d.currency)}),\n` +
        `    or p2pvps admin dispute-reject ${d.id} --note TEXT\n`,
    );
  }
}

/** `admin dispute-refund DISPUTE AMOUNT [--note TEXT]`: give part or all of what was paid back to the renter's balance. */
export async function adminDisputeRefund(ctx: Context, args: ParsedArgs): Promise<void> {
  const refundMicros = moneyPositional(args, 1, 'AMOUNT', 'admin dispute-refund');
  const note = stringOption(args, 'note') ?? '';
  const d = await ctx.userClient().call('adminResolveDispute', {
    params: { disputeId: positional(args, 0) },
    body: { outcome: 'refund', refundMicros, note },
  });
  if (ctx.printJson(d)) return;
  ctx.out(
    `Refunded ${formatMoney(d.refundMicros, d.currency)} of rental ${d.rentalId} to ${d.renterEmail}'s balance; they are mailed the outcome.\n`,
  );
}

/** `admin dispute-reject DISPUTE --note TEXT`: refuse a dispute, saying why. */
export async function adminDisputeReject(ctx: Context, args: ParsedArgs): Promise<void> {
  const note = stringOption(args, 'note');
  if (!note) throw new UsageError('say why, for the renter: --note "..."', 'admin dispute-reject');
  const d = await ctx
    .userClient()
    .call('adminResolveDispute', { params: { disputeId: positional(args, 0) }, body: { outcome: 'reject', note } });
  if (ctx.printJson(d)) return;
  ctx.out(`Rejected dispute ${d.id}; ${d.renterEmail} is mailed your note.\n`);
}
