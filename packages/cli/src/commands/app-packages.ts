import { positional, stringOption, type ParsedArgs } from '../command.ts';
import { UsageError } from '../cli-error.ts';
import type { Context } from '../context.ts';
import { printable } from '../format.ts';
import { formatTable } from '../table.ts';
import { resolveDevice } from './devices.ts';

/** `p2pvps packages`: the deployment packages a rental can be rented with, and their settings. */
export async function listPackages(ctx: Context): Promise<void> {
  const reply = await ctx.userClient().call('appPackages', { query: {} });
  if (ctx.printJson(reply)) return;
  ctx.out(
    formatTable(
      ['NAME', 'SERVES', 'DESCRIPTION'],
      reply.packages.map((p) => [p.name, p.ports.map((x) => x.kind).join(', '), p.description]),
    ),
  );
  for (const p of reply.packages) {
    const settings = Object.entries(p.settings);
    if (settings.length === 0) continue;
    ctx.out(`\n${p.name} settings (--set KEY=VALUE):\n`);
    for (const [k, s] of settings) ctx.out(`  ${k}  ${s.description} Default: ${s.default === '' ? '(empty)' : s.default}\n`);
  }
}

/** `p2pvps devices packages DEVICE [--refuse A,B | --allow-all]`: which packages renters may run on a device. */
export async function devicePackages(ctx: Context, args: ParsedArgs): Promise<void> {
  const refuse = stringOption(args, 'refuse');
  const allowAll = args.values['allow-all'] === true;
  if (refuse !== undefined && allowAll) throw new UsageError('give --refuse or --allow-all, not both', 'devices packages');
  const client = ctx.userClient();
  let device = await resolveDevice(client, positional(args, 0));
  if (refuse !== undefined || allowAll) {
    const refusedPackages = allowAll
      ? []
      : refuse!
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
    device = await client.call('updateDevice', { params: { deviceId: device.id }, body: { refusedPackages } });
  }
  if (ctx.printJson(device)) return;
  const refused = device.refusedPackages ?? [];
  ctx.out(
    refused.length
      ? `${printable(device.name)} refuses the packages ${refused.join(', ')}; renters may rent it with any other.\n`
      : `${printable(device.name)} allows every deployment package.\n`,
  );
}
