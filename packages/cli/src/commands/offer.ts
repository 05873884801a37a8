import { ApiError } from '@p2pvps/protocol/client';
import type { Offer } from '@p2pvps/protocol/schemas';
import { CliError, UsageError } from '../cli-error.ts';
import { booleanOption, integerOption, positional, stringOption, type ParsedArgs } from '../command.ts';
import type { Context } from '../context.ts';
import { formatHardware, formatOffer, printable } from '../format.ts';
import { parseSize, SizeFormatError } from '../size.ts';
import { resolveDevice } from './devices.ts';

/** `devices offer …`: what one rental of a device gets, within its hardware. */

/** The API's field names as this command's options, so a refusal names what to change. */
const optionOf: Record<string, string> = {
  'body.offer.cores': '--cores',
  'body.offer.memoryBytes': '--memory',
  'body.offer.diskBytes': '--disk',
  'body.offer.bandwidthMbit': '--bandwidth',
};

/** `20Mbit`, `20Mbit/s`, `1.5Gbit`, `500kbit` or a bare number of Mbit/s; `none` for no cap. */
export function parseBandwidth(text: string): number | null {
  const t = text.trim().toLowerCase();
  if (t === 'none' || t === 'off' || t === '0') return null;
  const m = /^(\d+(?:\.\d+)?)\s*(k|m|g)?(?:bit|b)?(?:\/s|ps)?$/.exec(t);
  if (!m) throw new UsageError(`--bandwidth must be a rate like 20Mbit or 1Gbit, or none, not "${text}"`, 'devices offer');
  const scale = { k: 0.001, m: 1, g: 1000 }[(m[2] ?? 'm') as 'k' | 'm' | 'g'];
  return Number(m[1]) * scale;
}

function size(args: ParsedArgs, name: string): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  try {
    return parseSize(text);
  } catch (err) {
    if (err instanceof SizeFormatError) throw new UsageError(`--${name}: ${err.message}`, 'devices offer');
    throw err;
  }
}

function change(args: ParsedArgs): Partial<Offer> {
  const c: Partial<Offer> = {};
  const cores = integerOption(args, 'cores', 'devices offer', 1);
  if (cores !== undefined) c.cores = cores;
  const memory = size(args, 'memory');
  if (memory !== undefined) c.memoryBytes = memory;
  const disk = size(args, 'disk');
  if (disk !== undefined) c.diskBytes = disk;
  const bandwidth = stringOption(args, 'bandwidth');
  if (bandwidth !== undefined) c.bandwidthMbit = parseBandwidth(bandwidth);
  return c;
}

export async function offerDevice(ctx: Context, args: ParsedArgs): Promise<void> {
  const toDefault = booleanOption(args, 'default');
  const wanted = change(args);
  if (toDefault && Object.keys(wanted).length) throw new UsageError('give --default alone, or the parts to change', 'devices offer');
  const client = ctx.userClient();
  let device = await resolveDevice(client, positional(args, 0));
  if (toDefault || Object.keys(wanted).length) {
    try {
      device = await client.call('updateDevice', { params: { deviceId: device.id }, body: { offer: toDefault ? null : wanted } });
    } catch (err) {
      if (err instanceof ApiError && err.fields && Object.keys(err.fields).some((f) => f in optionOf)) {
        const fields = Object.fromEntries(Object.entries(err.fields).map(([f, problem]) => [optionOf[f] ?? f, problem]));
        throw new CliError(err.code, err.message, 1, fields);
      }
      throw err;
    }
  }
  if (ctx.printJson(device)) return;
  if (!device.offer) {
    ctx.out(`${printable(device.name)} has not enrolled yet; its agent reports the hardware a rental's offer must fit in.\n`);
    return;
  }
  ctx.out(
    `${printable(device.name)}: one rental gets ${formatOffer(device.offer)}${device.offerIsDefault ? ' (the default)' : ''}.\n` +
      `Device hardware: ${formatHardware(device.hardware)}.\n`,
  );
  if (device.openRentalId && (toDefault || Object.keys(wanted).length))
    ctx.out('The running rental keeps what it was rented with; the next one gets this.\n');
}
