import type { ApiClient } from '@p2pvps/protocol/client';
import { formatVerified } from '../verified.ts';
import type { Device } from '@p2pvps/protocol/schemas';
import { CliError, UsageError } from '../cli-error.ts';
import { moneyPositional, positional, stringOption, type ParsedArgs } from '../command.ts';
import type { Context } from '../context.ts';
import { formatHardware, formatJson, formatOfferShort, formatRelative, formatTime, printable, shellQuote } from '../format.ts';
import { formatMoney } from '@p2pvps/protocol/money';
import { formatTable } from '../table.ts';

/** `devices …`: what an owner does with their devices. */

/** Where the agent keeps its key and state unless told otherwise. */
export const AGENT_DATA_DIR = '/var/lib/p2pvps-agent';

/**
 * Finds one of the caller's devices by ID or by its (unique) name, so owners can type
 * `devices price kitchen-pi 0.05`.
 */
export async function resolveDevice(client: ApiClient, idOrName: string): Promise<Device> {
  const { devices } = await client.call('listDevices');
  const byId = devices.find((d) => d.id === idOrName);
  if (byId) return byId;
  const byName = devices.filter((d) => d.name === idOrName);
  if (byName.length === 1 && byName[0]) return byName[0];
  if (byName.length > 1) {
    throw new CliError(
      'ambiguous_device',
      `More than one of your devices is named "${idOrName}"; use its ID: ${byName.map((d) => d.id).join(', ')}.`,
    );
  }
  throw new CliError('not_found', `You have no device with the ID or name "${idOrName}"; see 'p2pvps devices list'.`);
}

function marketState(device: Device): string {
  if (device.listed) return 'listed';
  if (device.storageFault) return 'storage fault';
  if (device.hardwareFlag) return 'flagged';
  return device.onMarket ? 'on' : 'off';
}

/** Why a device that its owner put on the market is not listed. */
function notListedReason(device: Device): string | undefined {
  if (device.listed || !device.onMarket) return undefined;
  if (device.pricePerHourMicros === null) return 'it has no price yet (p2pvps devices price DEVICE PRICE)';
  if (device.status === 'awaiting_enrolment') return 'its agent has not enrolled yet';
  if (device.storageFault) return `its renter storage needs attention: ${device.storageFault}`;
  if (device.hardwareFlag) return device.hardwareFlag;
  if (device.status === 'rented' && device.storageLocked)
    return `it is rented; its renter's encrypted storage is locked: ${device.storageLocked}`;
  if (device.status === 'rented') return 'it is rented right now';
  if (!device.online) return 'it is offline';
  return undefined;
}

export async function addDevice(ctx: Context, args: ParsedArgs): Promise<void> {
  const description = stringOption(args, 'description');
  const grant = await ctx.userClient().call('addDevice', {
    body: { name: positional(args, 0), ...(description !== undefined ? { description } : {}) },
  });
  if (ctx.printJson(grant)) return;
  // The server's public URL, not ours: we may reach it by another name (a tunnel, localhost).
  const deviceConfig = { serverUrl: grant.serverUrl, enrolmentToken: grant.enrolmentToken, dataDir: AGENT_DATA_DIR };
  const install = await ctx.userClient().call('agentInstall');
  const server = shellQuote(grant.serverUrl);
  ctx.out(
    `Added device ${printable(grant.device.name)} (ID ${grant.device.id}).\n\n` +
      `Enrolment token (shown only now; valid until ${formatTime(grant.expiresAt, ctx.now())}):\n` +
      `  ${grant.enrolmentToken}\n\n` +
      `Install the agent on the device (Raspberry Pi OS, Debian, Ubuntu); it checks the agent's code against the SHA-256 and asks for the token:\n` +
      `  ${install.command}\n\n` +
      `Or, where the agent is installed, put the token in a file and run:\n` +
      `  p2pvps agent init --server ${server} --token-file FILE\n` +
      `  p2pvps agent\n\n` +
      `device-config.json for the device (the agent reads /etc/p2pvps/device-config.json):\n${formatJson(deviceConfig)}\n`,
  );
}

export async function listDevices(ctx: Context): Promise<void> {
  const reply = await ctx.userClient().call('listDevices');
  if (ctx.printJson(reply)) return;
  if (reply.devices.length === 0) {
    ctx.out("You have no devices yet; add one with 'p2pvps devices add NAME'.\n");
    return;
  }
  const currency = await ctx.currency();
  const now = ctx.now();
  ctx.out(
    formatTable(
      [
        'ID',
        'NAME',
        'STATUS',
        'MARKET',
        { header: 'PRICE/H', align: 'right' },
        { header: 'PORT', align: 'right' },
        'HARDWARE',
        'RENTAL GETS',
        'VERIFIED',
        'LAST SEEN',
      ],
      reply.devices.map((d) => [
        d.id,
        d.name,
        d.status,
        marketState(d),
        d.pricePerHourMicros === null ? '-' : formatMoney(d.pricePerHourMicros, currency),
        d.sshPort === null ? '-' : String(d.sshPort), // given at enrolment
        formatHardware(d.hardware),
        d.offer ? formatOfferShort(d.offer) : '-',
        formatVerified(d.verified),
        d.online ? 'now' : formatRelative(d.lastSeenAt, now),
      ]),
    ),
  );
  // Why a flagged device is off the market: the owner has to act on it.
  for (const d of reply.devices) if (d.hardwareFlag) ctx.out(`\n${printable(d.name)}: ${d.hardwareFlag}\n`);
}

export async function priceDevice(ctx: Context, args: ParsedArgs): Promise<void> {
  const pricePerHourMicros = moneyPositional(args, 1, 'PRICE', 'devices price');
  const client = ctx.userClient();
  const { id } = await resolveDevice(client, positional(args, 0));
  const device = await client.call('updateDevice', { params: { deviceId: id }, body: { pricePerHourMicros } });
  if (ctx.printJson(device)) return;
  ctx.out(`${printable(device.name)} now costs ${formatMoney(pricePerHourMicros, await ctx.currency())} per hour.\n`);
  if (!device.onMarket) ctx.out(`It is off the market; put it on with 'p2pvps devices market ${device.id} on'.\n`);
}

export async function marketDevice(ctx: Context, args: ParsedArgs): Promise<void> {
  const switchTo = positional(args, 1);
  if (switchTo !== 'on' && switchTo !== 'off') {
    throw new UsageError(`the last argument must be on or off, not "${switchTo}"`, 'devices market');
  }
  const client = ctx.userClient();
  const { id } = await resolveDevice(client, positional(args, 0));
  const device = await client.call('updateDevice', { params: { deviceId: id }, body: { onMarket: switchTo === 'on' } });
  if (ctx.printJson(device)) return;
  if (!device.onMarket) {
    ctx.out(`${printable(device.name)} is off the market; open rentals keep running.\n`);
    return;
  }
  const reason = notListedReason(device);
  ctx.out(
    reason
      ? `${printable(device.name)} is on the market but not listed yet: ${reason}.\n`
      : `${printable(device.name)} is on the market.\n`,
  );
}

export async function removeDevice(ctx: Context, args: ParsedArgs): Promise<void> {
  const client = ctx.userClient();
  const device = await resolveDevice(client, positional(args, 0));
  const reply = await client.call('removeDevice', { params: { deviceId: device.id } });
  if (ctx.printJson(reply)) return;
  ctx.out(`Removed ${printable(device.name)} (ID ${device.id}); its agent can no longer connect.\n`);
}
