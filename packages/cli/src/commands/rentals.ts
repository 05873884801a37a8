import { readFile, rm } from 'node:fs/promises';
import { ApiError, type ApiClient } from '@p2pvps/protocol/client';
import { Id, pageLimits, SshPublicKey, type Rental } from '@p2pvps/protocol/schemas';
import { CliError, UsageError } from '../cli-error.ts';
import { booleanOption, integerOption, positional, stringOption, type ParsedArgs } from '../command.ts';
import { knownHostsFile } from '../config.ts';
import { collectPages } from '../pages.ts';
import type { Context, OutputStream } from '../context.ts';
import { formatBandwidth, formatHardware, formatOfferShort, formatRelative, formatTime, printable, sshCommand } from '../format.ts';
import { formatDetails, formatTable } from '../table.ts';
import { printSshConfig } from './ssh-config.ts';
import { formatMoney } from '@p2pvps/protocol/money';
import { ownerVisibilityText } from '@p2pvps/protocol/disclosure';
import { readStorageSecret, storageWords } from './encryption.ts';

/** `rent`, `rentals`, `stop`: the renter's side. */

const DEFAULT_WAIT_SECONDS = 300;

/**
 * Reads the public key to install in the container. Given a private key (`~/.ssh/id_ed25519`)
 * we use its `.pub` sibling; the private key itself is never sent anywhere.
 */
export async function readPublicKey(file: string): Promise<string> {
  const read = async (path: string) => {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      throw new CliError('ssh_key_unreadable', `Cannot read the SSH key file ${path}: ${(err as Error).message}.`);
    }
  };
  let path = file;
  let text = await read(path);
  if (/PRIVATE KEY-----/.test(text)) {
    const pub = `${file}.pub`;
    text = await read(pub).catch(() => {
      throw new CliError('ssh_key_private', `${file} is a private key and ${pub} does not exist; give the public key file.`);
    });
    path = pub;
  }
  const line = text.split('\n').find((l) => l.trim() !== '' && !l.trim().startsWith('#')) ?? '';
  const parsed = SshPublicKey.safeParse(line);
  if (!parsed.success) {
    throw new CliError(
      'ssh_key_invalid',
      `${path} does not hold an OpenSSH public key: ${parsed.error.issues[0]?.message ?? 'unknown format'}.`,
    );
  }
  return parsed.data;
}

/** A device ID passes through; anything else is looked up by name among the listings. */
async function resolveListing(client: ApiClient, idOrName: string): Promise<string> {
  if (Id.safeParse(idOrName).success) return idOrName;
  const listings = await collectPages(
    async (page) => {
      const r = await client.call('market', { query: page });
      return { items: r.listings, next: r.next };
    },
    { pageSize: pageLimits.market },
  );
  const matches = listings.filter((l) => l.name === idOrName);
  if (matches.length === 1 && matches[0]) return matches[0].deviceId;
  if (matches.length > 1) {
    throw new CliError(
      'ambiguous_device',
      `More than one listed device is named "${idOrName}"; use its ID: ${matches.map((l) => l.deviceId).join(', ')}.`,
    );
  }
  throw new CliError('not_found', `No listed device has the ID or name "${idOrName}"; see 'p2pvps market'.`);
}

/** One status line on stderr, rewritten in place on a terminal. */
class ProgressLine {
  private shown = false;
  constructor(private readonly stream: OutputStream) {}
  update(text: string): void {
    if (this.stream.isTTY) this.stream.write(`\r\x1b[K${text}`);
    else if (!this.shown) this.stream.write(`${text}\n`);
    this.shown = true;
  }
  clear(): void {
    if (this.shown && this.stream.isTTY) this.stream.write('\r\x1b[K');
  }
}

/**
 * Polls until the device has started the rental's container. Elapsed time is counted
 * from the waits themselves so tests can inject an instant `sleep`.
 */
export async function waitForActive(ctx: Context, client: ApiClient, rental: Rental, timeoutSeconds: number): Promise<Rental> {
  const progress = new ProgressLine(ctx.io.stderr);
  let current = rental;
  let waitedMs = 0;
  let delayMs = 500;
  try {
    while (current.state === 'requested') {
      if (waitedMs >= timeoutSeconds * 1000) {
        throw new CliError(
          'wait_timeout',
          `Rental ${current.id} is still starting after ${timeoutSeconds}s. It stays open: check it with 'p2pvps rentals' or stop it with 'p2pvps stop ${current.id}'.`,
        );
      }
      progress.update(
        current.app
          ? `Package ${current.app.name} on ${printable(current.deviceName)}: ${current.app.state}… ${Math.round(waitedMs / 1000)}s`
          : `Waiting for ${printable(current.deviceName)} to start your container… ${Math.round(waitedMs / 1000)}s`,
      );
      await ctx.sleep(delayMs);
      waitedMs += delayMs;
      delayMs = Math.min(Math.round(delayMs * 1.5), 3000);
      try {
        current = await client.call('getRental', { params: { rentalId: current.id } });
      } catch (err) {
        // A blip in the connection to the server is not the rental failing.
        if (!(err instanceof ApiError && (err.code === 'server_unreachable' || err.status >= 500))) throw err;
      }
    }
  } finally {
    progress.clear();
  }
  if (current.state !== 'active') {
    const why = [current.endReason, current.detail].filter(Boolean).join(': ');
    throw new CliError('rental_ended', `Rental ${current.id} ended before it became active${why ? ` (${why})` : ''}.`);
  }
  return current;
}

/** How a prepaid rental's auto-renewal reads, in `rent`, `rentals` and `extend`. */
export function autoRenewWords(on: boolean): string {
  return on ? 'on: renews for its term when it runs out, if your balance covers it' : "off ('p2pvps extend RENTAL --auto-renew on')";
}

function rentalResources(rental: Rental): string {
  const bandwidth = rental.bandwidthMbit ? `, ${formatBandwidth(rental.bandwidthMbit)}` : '';
  return `${formatHardware(rental.deviceHardware)}${bandwidth}`;
}

/** `hours`: what the renter asked for; the server sets `expiresAt` only once the container runs. */
function rentalDetails(rental: Rental, now: Date, hours?: number): string {
  const open = rental.state === 'requested' || rental.state === 'active';
  const pairs: [string, string][] = [
    ['Rental', rental.id],
    ['State', rental.state],
    ['Device', `${rental.deviceName} (${rental.deviceId})`],
  ];
  // What the container gets (the offer it was rented with), never the device's totals.
  if (rental.deviceHardware) pairs.push(['Resources', rentalResources(rental)]);
  if (open) {
    pairs.push(
      ['SSH', sshCommand(rental.connection)],
      ['Password', rental.connection.password],
      ['Web', `${rental.connection.httpUrl}  ${rental.connection.httpsUrl}  (ports 80 and 443 of the container)`],
    );
  }
  let expires = 'when you stop it';
  if (rental.expiresAt) expires = formatTime(rental.expiresAt, now);
  else if (hours !== undefined) expires = `${hours}h after your container starts`;
  pairs.push(['Expires', expires]);
  if (rental.pricePerHourMicros !== null) {
    const money = (m: number) => formatMoney(m, rental.currency);
    const terms = rental.prepaidHours
      ? `${rental.prepaidHours} h prepaid: ${money(rental.pricePerHourMicros * rental.prepaidHours)} held, unused time returned if the device is lost`
      : 'billed per minute while the device is up';
    pairs.push(['Price', `${money(rental.pricePerHourMicros)}/h, ${terms}`], ['Cost', `${money(rental.costMicros)} so far`]);
  }
  if (rental.prepaidHours !== null && open) pairs.push(['Renew', autoRenewWords(rental.autoRenew)]);
  const storage = open ? storageWords(rental) : undefined;
  if (storage) pairs.push(['Storage', storage]);
  if (rental.app) {
    pairs.push(['Package', `${rental.app.name}: ${rental.app.state}`]);
    for (const a of rental.app.addresses) pairs.push(['Serves', a]);
  }
  if (rental.detail && rental.state !== 'active') pairs.push(['Detail', rental.detail]);
  else if (rental.app && rental.app.state !== 'healthy' && rental.app.log)
    pairs.push(['Log', rental.app.log.split('\n').slice(-8).join('\n')]);
  if (rental.endedAt) pairs.push(['Ended', `${formatTime(rental.endedAt, now)} ${rental.endReason ?? ''}`]);
  return formatDetails(pairs);
}

function shouldWait(ctx: Context, args: ParsedArgs): boolean {
  if (booleanOption(args, 'wait') && booleanOption(args, 'no-wait')) {
    throw new UsageError('give --wait or --no-wait, not both', 'rent');
  }
  if (booleanOption(args, 'no-wait')) return false;
  return booleanOption(args, 'wait') || ctx.io.stdout.isTTY === true;
}

/** `--package NAME [--set KEY=VALUE]...` as the rent body's package. */
function packageOption(args: ParsedArgs): { name: string; settings: Record<string, string> } | undefined {
  const name = stringOption(args, 'package');
  const sets = (args.values.set as unknown as string[] | undefined) ?? [];
  if (name === undefined) {
    if (sets.length > 0) throw new UsageError('--set needs --package NAME: settings belong to a package', 'rent');
    return undefined;
  }
  const settings: Record<string, string> = {};
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq < 1) throw new UsageError(`--set takes KEY=VALUE, like SITE_TITLE=Hello, not "${s}"`, 'rent');
    settings[s.slice(0, eq)] = s.slice(eq + 1);
  }
  return { name, settings };
}

export async function rent(ctx: Context, args: ParsedArgs): Promise<void> {
  const hours = integerOption(args, 'hours', 'rent', 1);
  const autoRenew = booleanOption(args, 'auto-renew');
  if (autoRenew && hours === undefined) throw new UsageError('--auto-renew needs --hours N: only a prepaid term renews', 'rent');
  // A package installs before the rental is ready: a wiki's PHP takes minutes on a small device.
  const timeoutSeconds = integerOption(args, 'timeout', 'rent', 1) ?? (stringOption(args, 'package') ? 900 : DEFAULT_WAIT_SECONDS);
  const wait = shouldWait(ctx, args);
  const keyFile = stringOption(args, 'ssh-key');
  const sshPublicKey = keyFile === undefined ? undefined : await readPublicKey(keyFile);
  const encryptionKey = booleanOption(args, 'encrypt') ? await readStorageSecret(ctx, args, 'rent') : undefined;
  if (!encryptionKey && stringOption(args, 'key-file') !== undefined) throw new UsageError('--key-file goes with --encrypt', 'rent');
  const appPackage = packageOption(args);
  const client = ctx.userClient();
  const deviceId = await resolveListing(client, positional(args, 0));
  let rental = await client.call('rent', {
    body: {
      deviceId,
      ...(appPackage ? { package: appPackage } : {}),
      ...(sshPublicKey ? { sshPublicKey } : {}),
      ...(hours !== undefined ? { hours } : {}),
      ...(autoRenew ? { autoRenew } : {}),
      ...(encryptionKey ? { encryptionKey } : {}),
    },
  });
  // On stderr, so it reaches the renter without entering --json output or piped details.
  ctx.io.stderr.write(`${ownerVisibilityText()}\n`);
  if (wait && rental.state === 'requested') {
    ctx.io.stderr.write(`Rented ${printable(rental.deviceName)}: rental ${rental.id}.\n`);
    rental = await waitForActive(ctx, client, rental, timeoutSeconds);
  }
  if (ctx.printJson(rental)) return;
  ctx.out(rentalDetails(rental, ctx.now(), hours));
  ctx.out(
    rental.state === 'active'
      ? `\nConnect with 'p2pvps ssh ${rental.id}'.\n`
      : `\nThe device is starting your container; 'p2pvps ssh ${rental.id}' waits for it.\n`,
  );
}

export async function listRentals(ctx: Context, args: ParsedArgs): Promise<void> {
  if (booleanOption(args, 'ssh-config')) {
    if (booleanOption(args, 'all')) throw new UsageError('--ssh-config covers open rentals only; leave out --all', 'rentals');
    return printSshConfig(ctx);
  }
  const all = booleanOption(args, 'all');
  const rentals = await collectPages(
    async (page) => {
      const r = await ctx.userClient().call('listRentals', { query: { ...(all ? { all: 'true' as const } : {}), ...page } });
      return { items: r.rentals, next: r.next };
    },
    { max: integerOption(args, 'limit', 'rentals', 1), pageSize: pageLimits.rentals },
  );
  const reply = { rentals };
  if (ctx.printJson(reply)) return;
  if (reply.rentals.length === 0) {
    ctx.out(
      all
        ? "You have never rented a device; see 'p2pvps market'.\n"
        : "You have no open rentals; 'p2pvps rentals --all' shows past ones.\n",
    );
    return;
  }
  const now = ctx.now();
  ctx.out(
    formatTable(
      ['ID', 'DEVICE', 'RESOURCES', 'STATE', 'CREATED', 'EXPIRES', 'COST', 'SSH'],
      reply.rentals.map((r) => {
        const open = r.state === 'requested' || r.state === 'active';
        return [
          r.id,
          r.deviceName,
          r.deviceHardware ? formatOfferShort({ ...r.deviceHardware, bandwidthMbit: r.bandwidthMbit ?? null }) : '-',
          r.endReason ? `${r.state} (${r.endReason})` : r.storageLocked ? `${r.state} (locked)` : r.state,
          formatRelative(r.createdAt, now),
          open ? formatRelative(r.expiresAt, now) : '-',
          formatMoney(r.costMicros, r.currency),
          open ? sshCommand(r.connection) : '-',
        ];
      }),
    ),
  );
}

/** `p2pvps rental RENTAL`: one rental in full, with its package's state, log and address. */
export async function showRental(ctx: Context, args: ParsedArgs): Promise<void> {
  const rental = await ctx.userClient().call('getRental', { params: { rentalId: positional(args, 0) } });
  if (ctx.printJson(rental)) return;
  ctx.out(rentalDetails(rental, ctx.now()));
}

export async function stopRental(ctx: Context, args: ParsedArgs): Promise<void> {
  const rentalId = positional(args, 0);
  const rental = await ctx.userClient().call('stopRental', { params: { rentalId } });
  await rm(knownHostsFile(ctx.configPath, rental.id), { force: true });
  if (ctx.printJson(rental)) return;
  ctx.out(`Stopped rental ${rental.id} on ${printable(rental.deviceName)} (${rental.state}); its container is destroyed and wiped.\n`);
}
