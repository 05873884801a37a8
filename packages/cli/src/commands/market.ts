import { pageLimits, type MarketQuery } from '@p2pvps/protocol/schemas';
import { UsageError } from '../cli-error.ts';
import { booleanOption, integerOption, stringOption, type ParsedArgs } from '../command.ts';
import type { Context } from '../context.ts';
import { collectPages } from '../pages.ts';
import { formatRelative } from '../format.ts';
import { formatMoney, MoneyFormatError, parseMoney } from '@p2pvps/protocol/money';
import { formatSize, parseSize, SizeFormatError } from '../size.ts';
import { formatTable } from '../table.ts';
import { ratingText } from './reviews.ts';
import { formatVerified } from '../verified.ts';

/** `market`: the devices for rent, filtered and sorted by the server. */

const SORT_KEYS = ['price', 'memory', 'cores', 'disk', 'reliability'] as const;
type SortKey = (typeof SORT_KEYS)[number];

/** Turns the command's options into the API's market query; exported for tests. */
export function marketQuery(args: ParsedArgs): Partial<MarketQuery> {
  const query: Partial<MarketQuery> = {};
  const sort = stringOption(args, 'sort');
  if (sort !== undefined) {
    if (!(SORT_KEYS as readonly string[]).includes(sort)) {
      throw new UsageError(`--sort must be one of ${SORT_KEYS.join(', ')}, not "${sort}"`, 'market');
    }
    query.sort = sort as SortKey;
  }
  if (booleanOption(args, 'desc')) query.order = 'desc';
  const maxPrice = stringOption(args, 'max-price');
  if (maxPrice !== undefined) query.maxPriceMicros = parseOr(() => parseMoney(maxPrice), '--max-price');
  const minMemory = stringOption(args, 'min-memory');
  if (minMemory !== undefined) query.minMemoryBytes = parseOr(() => parseSize(minMemory), '--min-memory');
  const minDisk = stringOption(args, 'min-disk');
  if (minDisk !== undefined) query.minDiskBytes = parseOr(() => parseSize(minDisk), '--min-disk');
  const minCores = integerOption(args, 'min-cores', 'market');
  if (minCores !== undefined) query.minCores = minCores;
  const arch = stringOption(args, 'arch');
  if (arch !== undefined) query.arch = arch;
  const minReliability = stringOption(args, 'min-reliability');
  if (minReliability !== undefined) query.minReliability = percentOption(minReliability);
  const appPackage = stringOption(args, 'package');
  if (appPackage !== undefined) query.package = appPackage;
  return query;
}

/** `95` or `99.5` (percent, 0–100). */
function percentOption(text: string): number {
  const value = Number(text.replace(/%$/, ''));
  if (!/^\d+(\.\d+)?%?$/.test(text) || value > 100) {
    throw new UsageError(`--min-reliability must be a percentage from 0 to 100, like 95, not "${text}"`, 'market');
  }
  return value;
}

/** `99.5%`, or `new` for a device without enough history to score. */
export function formatReliability(percent: number | null): string {
  return percent === null ? 'new' : `${percent}%`;
}

function parseOr(parse: () => number, option: string): number {
  try {
    return parse();
  } catch (err) {
    if (err instanceof MoneyFormatError || err instanceof SizeFormatError) throw new UsageError(`${option}: ${err.message}`, 'market');
    throw err;
  }
}

export async function market(ctx: Context, args: ParsedArgs): Promise<void> {
  const query = marketQuery(args);
  const listings = await collectPages(
    async (page) => {
      const r = await ctx.client().call('market', { query: { ...query, ...page } });
      return { items: r.listings, next: r.next };
    },
    { max: integerOption(args, 'limit', 'market', 1), pageSize: pageLimits.market },
  );
  const reply = { listings };
  if (ctx.printJson(reply)) return;
  if (reply.listings.length === 0) {
    ctx.out('No device matches; try fewer filters, or look again later.\n');
    return;
  }
  const currency = await ctx.currency();
  const now = ctx.now();
  ctx.out(
    formatTable(
      [
        'DEVICE',
        'NAME',
        { header: 'PRICE/H', align: 'right' },
        { header: 'CORES', align: 'right' },
        { header: 'MEMORY', align: 'right' },
        { header: 'DISK', align: 'right' },
        'BANDWIDTH',
        'VERIFIED',
        'ARCH',
        'SERVER',
        'LISTED',
        { header: 'RELIABILITY', align: 'right' },
        { header: 'RATING', align: 'right' },
      ],
      reply.listings.map((l) => [
        l.deviceId,
        l.name,
        // A peer's device: what the renter pays here, and each side's fee, before renting.
        l.federationFees
          ? `${formatMoney(l.federationFees.renterPricePerHourMicros, currency)} (${formatMoney(l.pricePerHourMicros, currency)} + ${l.federationFees.feePercent}%; home takes ${l.federationFees.homeFeePercent ?? '?'}%)`
          : formatMoney(l.pricePerHourMicros, currency),
        String(l.hardware.cores),
        formatSize(l.hardware.memoryBytes),
        formatSize(l.hardware.diskBytes),
        l.bandwidthMbit ? `${l.bandwidthMbit} Mbit/s` : '-',
        formatVerified(l.verified),
        l.hardware.arch,
        l.homeServerUrl ? `${l.homeServer} (peer)` : l.homeServer,
        formatRelative(l.listedSince, now),
        formatReliability(l.reliabilityPercent),
        ratingText(l.rating),
      ]),
    ),
  );
}
