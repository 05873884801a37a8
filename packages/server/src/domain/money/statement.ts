import { formatMicros } from '@p2pvps/protocol/money';
import type { StatementLine as StatementLineOut, StatementQuery } from '@p2pvps/protocol/schemas';
import type { DomainContext } from '../context.ts';
import { decodeCursor, pageOf, type Page } from '../paging.ts';
import { statementOf } from './ledger.ts';

/**
 * The statement, a page at a time: one line per ledger entry on the user's balance and
 * earnings (the meter writes one a minute per rental, so it grows without bound and is
 * never sent whole). Keyset on the entry ID, which sorts in the order entries were written.
 */
export async function statementPage(ctx: DomainContext, userId: string, q: StatementQuery): Promise<Page<StatementLineOut>> {
  const after = decodeCursor(q.cursor, ['string'] as const)?.[0];
  const rows = await statementOf(ctx.db, userId, { limit: q.limit + 1, order: q.order, ...(after !== undefined ? { after } : {}) });
  const page = pageOf(rows, q.limit, (r) => [r.id]);
  return {
    next: page.next,
    items: page.items.map(({ id: _, ...l }) => ({
      ...l,
      account: l.account as StatementLineOut['account'],
      amountMicros: Number(l.amountMicros),
    })),
  };
}

const accountNames: Record<string, string> = {
  renter_balance: 'balance',
  rental_hold: 'prepaid',
  owner_earnings: 'earnings',
  payouts_pending: 'payouts',
};
const quote = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/**
 * The whole statement as CSV text, oldest first, a page of entries per chunk: a long
 * statement is streamed, never built in memory, and the server does other work between pages.
 */
export async function* statementCsv(ctx: DomainContext, userId: string, pageSize = 1000): AsyncGenerator<string> {
  yield 'time,account,kind,memo,rental,amount,currency\n';
  let cursor: string | undefined;
  do {
    const page = await statementPage(ctx, userId, { order: 'asc', limit: pageSize, ...(cursor ? { cursor } : {}) });
    yield page.items
      .map(
        (l) =>
          [
            l.at,
            accountNames[l.account] ?? l.account,
            l.kind,
            quote(l.memo),
            l.rentalId ?? '',
            formatMicros(l.amountMicros),
            ctx.settings.currency,
          ].join(',') + '\n',
      )
      .join('');
    cursor = page.next ?? undefined;
    // Let the gateway and the doors run between pages.
    await new Promise((resolve) => setImmediate(resolve));
  } while (cursor);
}
