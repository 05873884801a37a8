import { maintenanceRules } from '@p2pvps/protocol/reliability-schemas';
import { UsageError } from '../cli-error.ts';
import { positional, stringOption, type ParsedArgs } from '../command.ts';
import type { Context } from '../context.ts';
import { formatTime, printable } from '../format.ts';
import { formatTable } from '../table.ts';
import { resolveDevice } from './devices.ts';
import { formatReliability } from './market.ts';

/** `devices reliability` and `devices maintenance`: an owner's view of the reliability score (docs/reliability.md). */

const hours = (ms: number) => `${(ms / 3_600_000).toFixed(1)}h`;

export async function deviceReliability(ctx: Context, args: ParsedArgs): Promise<void> {
  const client = ctx.userClient();
  const device = await resolveDevice(client, positional(args, 0));
  const history = await client.call('deviceReliability', { params: { deviceId: device.id } });
  if (ctx.printJson(history)) return;
  const days = history.days.filter((d) => d.expectedMs > 0 || d.failedStarts > 0 || d.lostRentals > 0);
  ctx.out(
    `${printable(device.name)}: reliability ${formatReliability(history.percent)} over the last 30 days` +
      (history.percent === null ? ' (too little history to score yet)' : '') +
      '.\n',
  );
  if (days.length === 0) {
    ctx.out('No day in the last 30 on the market or rented.\n');
    return;
  }
  ctx.out(
    formatTable(
      [
        'DAY',
        { header: 'EXPECTED', align: 'right' },
        { header: 'ONLINE', align: 'right' },
        { header: 'MAINTENANCE', align: 'right' },
        { header: 'FAILED STARTS', align: 'right' },
        { header: 'LOST RENTALS', align: 'right' },
        { header: 'SCORE', align: 'right' },
      ],
      days.map((d) => [
        d.day,
        hours(d.expectedMs),
        hours(d.onlineMs),
        hours(d.maintenanceMs),
        String(d.failedStarts),
        String(d.lostRentals),
        d.percent === null ? '-' : `${d.percent}%`,
      ]),
    ),
  );
}

/** `+2h`, `+90m`, or an ISO time with a zone. */
export function parseStart(text: string, now: Date): string {
  const relative = /^\+(\d+(?:\.\d+)?)(h|m)$/.exec(text);
  if (relative) return new Date(now.getTime() + Number(relative[1]) * (relative[2] === 'h' ? 3_600_000 : 60_000)).toISOString();
  const at = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text) || Number.isNaN(at.getTime())) {
    throw new UsageError(`--from must be an ISO time with its zone (2026-03-02T14:00Z) or +2h, +90m, not "${text}"`, 'devices maintenance');
  }
  return at.toISOString();
}

function minutesOf(text: string): number {
  const minutes = Math.round(Number(text) * 60);
  if (!/^\d+(\.\d+)?$/.test(text) || minutes < maintenanceRules.minDurationMinutes || minutes > maintenanceRules.maxDurationMinutes) {
    throw new UsageError(`--hours must be from 0.25 to 8, like 2 or 0.5, not "${text}"`, 'devices maintenance');
  }
  return minutes;
}

export async function deviceMaintenance(ctx: Context, args: ParsedArgs): Promise<void> {
  const from = stringOption(args, 'from');
  const length = stringOption(args, 'hours');
  const cancel = stringOption(args, 'cancel');
  if (cancel !== undefined && (from !== undefined || length !== undefined))
    throw new UsageError('--cancel goes alone, without --from or --hours', 'devices maintenance');
  if ((from === undefined) !== (length === undefined))
    throw new UsageError('a window needs both --from and --hours', 'devices maintenance');
  const now = ctx.now();
  const body = from !== undefined && length !== undefined ? { startsAt: parseStart(from, now), minutes: minutesOf(length) } : undefined;
  const client = ctx.userClient();
  const device = await resolveDevice(client, positional(args, 0));
  const deviceId = device.id;
  if (cancel !== undefined) {
    const reply = await client.call('cancelMaintenance', { params: { deviceId, windowId: cancel } });
    if (ctx.printJson(reply)) return;
    ctx.out(`Cancelled maintenance window ${cancel} of ${printable(device.name)}.\n`);
    return;
  }
  if (body) {
    const window = await client.call('declareMaintenance', { params: { deviceId }, body });
    if (ctx.printJson(window)) return;
    ctx.out(
      `Maintenance window ${window.id} for ${printable(device.name)}:\n` +
        `  from ${formatTime(window.startsAt, now)}\n  to   ${formatTime(window.endsAt, now)}\n` +
        'Downtime inside it counts a quarter in the reliability score while the device is not rented.\n',
    );
    return;
  }
  const reply = await client.call('listMaintenance', { params: { deviceId } });
  if (ctx.printJson(reply)) return;
  if (reply.windows.length === 0) {
    ctx.out(`${printable(device.name)} has no maintenance window ahead; declare one with --from TIME --hours H.\n`);
    return;
  }
  ctx.out(
    formatTable(
      ['WINDOW', 'FROM', 'TO'],
      reply.windows.map((w) => [w.id, formatTime(w.startsAt, now), formatTime(w.endsAt, now)]),
    ),
  );
}
