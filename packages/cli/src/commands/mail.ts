import { UsageError } from '../cli-error.ts';
import { stringOption, type ParsedArgs } from '../command.ts';
import type { Context } from '../context.ts';
import { formatTime } from '../format.ts';
import { formatTable } from '../table.ts';

/** `settings [--email-rental-password on|off]`: show, or change, what the server mails you. */
export async function settings(ctx: Context, args: ParsedArgs): Promise<void> {
  const choice = stringOption(args, 'email-rental-password');
  if (choice !== undefined && choice !== 'on' && choice !== 'off') {
    throw new UsageError(`--email-rental-password must be on or off, not "${choice}"`, 'settings');
  }
  const client = ctx.userClient();
  const reply =
    choice === undefined
      ? await client.call('getSettings')
      : await client.call('updateSettings', { body: { emailRentalPassword: choice === 'on' } });
  if (ctx.printJson(reply)) return;
  ctx.out(
    `Email rental passwords  ${reply.emailRentalPassword ? 'on (the mail that says a rental is ready holds its password)' : 'off (the mail links to the rental instead)'}\n`,
  );
}

const states = ['queued', 'sent', 'outbox', 'failed'] as const;

/** `admin outbox [--state S] [--limit N] [--full]`: the mail the server sent or holds, newest first. */
export async function adminOutbox(ctx: Context, args: ParsedArgs): Promise<void> {
  const state = stringOption(args, 'state');
  if (state !== undefined && !(states as readonly string[]).includes(state)) {
    throw new UsageError(`--state must be one of ${states.join(', ')}, not "${state}"`, 'admin outbox');
  }
  const limitText = stringOption(args, 'limit');
  const limit = limitText === undefined ? undefined : Number(limitText);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= 1000)) {
    throw new UsageError(`--limit must be a whole number from 1 to 1000, not "${limitText}"`, 'admin outbox');
  }
  const reply = await ctx.userClient().call('adminOutbox', {
    query: { ...(state ? { state: state as (typeof states)[number] } : {}), ...(limit ? { limit } : {}) },
  });
  if (ctx.printJson(reply)) return;
  const now = ctx.now();
  ctx.out(
    reply.delivery === 'outbox'
      ? 'No SMTP server is configured (--smtp-url): mail stays here.\n\n'
      : 'Mail goes out through SMTP; the text of sent mail is not kept.\n\n',
  );
  if (reply.mails.length === 0) {
    ctx.out('No mail.\n');
    return;
  }
  if (args.values.full === true) {
    for (const m of reply.mails) {
      ctx.out(
        `To: ${m.to}\nSubject: ${m.subject}\nDate: ${formatTime(m.createdAt, now)}\nState: ${m.state}${m.lastError ? ` (${m.lastError})` : ''}\n\n${m.text}\n`,
      );
      ctx.out(`${'-'.repeat(72)}\n`);
    }
    return;
  }
  ctx.out(
    formatTable(
      ['CREATED', 'STATE', 'TO', 'SUBJECT'],
      reply.mails.map((m) => [
        formatTime(m.createdAt, now),
        m.state + (m.state === 'queued' && m.attempts > 0 ? ` (${m.attempts} tries)` : ''),
        m.to,
        m.subject,
      ]),
    ),
  );
  ctx.out('\nWith --full, each mail in full.\n');
}
