import type { DepositAddress, TopUpCoin, TopUpRail } from '@p2pvps/protocol/schemas';
import type { z } from 'zod';
import type { Db } from '../db/database.ts';
import { allocateDepositAddress, DbBlockCursor, DbDepositDirectory, listDepositAddresses } from '../db/rails-repo.ts';
import { findRate, saveRate } from '../db/rates-repo.ts';
import type { Clock } from '../domain/clock.ts';
import { DepositAddresses as BitcoinAddresses } from './bitcoin/address.ts';
import { BitcoinRail } from './bitcoin/watcher.ts';
import { ledgerDepositSink, ledgerReversalSink } from './deposit-sink.ts';
import { DepositAddresses as EthereumAddresses, toChecksumAddress } from './ethereum/address.ts';
import { EthereumRail, type RailLogger } from './ethereum/watcher.ts';
import { PayPalRail } from './paypal/rail.ts';
import { parseRate } from './ethereum/amount.ts';
import { checkRate, RateUnavailable, type RateCheck } from './exchange-rates.ts';
import type { RailSettings } from './rail-options.ts';
import type { DepositSink, PaymentRail, ReversalSink } from './rail.ts';

type Coin = z.infer<typeof TopUpCoin>;
export type ChainRail = 'ethereum' | 'bitcoin';

interface ChainRailParts {
  rail: PaymentRail;
  /** Derivation index → the address as stored and looked up (lower-case). */
  derive(index: number): string;
  /** A stored address as shown to the renter (Ethereum: EIP-55 checksummed). */
  display(address: string): string;
  chain: string;
  confirmations: number;
  coins: Coin[];
}

/**
 * The payment rails the operator enabled (--rails), built from their settings, started and
 * closed with the server. Each deposit event goes to the ledger through one sink, keyed
 * rail:eventId, so every rail credits a payment once however often it is seen.
 */
export class PaymentRails {
  readonly paypal: PayPalRail | undefined;
  private readonly chains = new Map<ChainRail, ChainRailParts>();
  /** Each chain coin's symbol and the rate its option seeds at first start. */
  private readonly seeds = new Map<string, string>();
  private readonly all: PaymentRail[] = [];
  private closing: Promise<void> | undefined;

  constructor(
    private readonly settings: RailSettings,
    private readonly deps: { db: Db; clock: Clock; currency: string; log: RailLogger; mayPoll?: () => boolean },
  ) {
    const { db, clock, log } = deps;
    if (settings.paypal) {
      this.paypal = new PayPalRail(settings.paypal, { now: () => clock.now() });
      this.all.push(this.paypal);
    }
    if (settings.ethereum) {
      const { config, xpub } = settings.ethereum;
      const addresses = new EthereumAddresses(xpub);
      const rail = new EthereumRail(config, {
        cursor: new DbBlockCursor(db, 'ethereum', () => clock.now()),
        directory: new DbDepositDirectory(db, 'ethereum'),
        log,
        rateOf: (symbol) => this.usableRate(symbol),
        ...(deps.mayPoll ? { mayPoll: deps.mayPoll } : {}),
      });
      this.seeds.set('ETH', config.ethRate);
      if (config.token) this.seeds.set(config.token.symbol, config.token.rate);
      this.chains.set('ethereum', {
        rail,
        derive: (i) => addresses.at(i).toLowerCase(),
        display: toChecksumAddress,
        chain: String(config.chainId),
        confirmations: config.confirmations,
        coins: [
          { symbol: 'ETH', rate: config.ethRate, decimals: 18 },
          ...(config.token
            ? [
                {
                  symbol: config.token.symbol,
                  rate: config.token.rate,
                  decimals: config.token.decimals,
                  contract: toChecksumAddress(config.token.address),
                },
              ]
            : []),
        ],
      });
      this.all.push(rail);
    }
    if (settings.bitcoin) {
      const b = settings.bitcoin;
      const addresses = new BitcoinAddresses(b.xpub, b.network);
      const rail = new BitcoinRail({
        esploraUrl: b.esploraUrl,
        minConfirmations: b.confirmations,
        btcPrice: b.btcRate,
        currentPrice: () => this.usableRate('BTC'),
        // Only addresses a renter asked for lately: signups alone cost no Esplora calls.
        depositAddresses: () =>
          listDepositAddresses(db, 'bitcoin', new Date(clock.now().getTime() - b.watchDays * 86_400_000).toISOString()),
        pollIntervalMs: b.pollIntervalMs,
        maxRetryDelayMs: Math.max(b.pollIntervalMs, Math.min(600_000, b.pollIntervalMs * 20)),
        log,
        clock,
        ...(deps.mayPoll ? { mayPoll: deps.mayPoll } : {}),
      });
      this.seeds.set('BTC', b.btcRate);
      this.chains.set('bitcoin', {
        rail,
        derive: (i) => addresses.receiveAddress(i),
        display: (a) => a,
        chain: b.network,
        confirmations: b.confirmations,
        coins: [{ symbol: 'BTC', rate: b.btcRate, decimals: 8 }],
      });
      this.all.push(rail);
    }
  }

  /** Starts every enabled rail; if one cannot start (an Ethereum node on the wrong chain), closes the others and throws. */
  async start(): Promise<void> {
    // The rate options are each coin's first rate; later ones are fed (setRate), and a restart keeps them.
    for (const [coin, rate] of this.seeds) {
      if (!(await findRate(this.deps.db, coin))) await saveRate(this.deps.db, coin, rate, this.deps.clock.now().toISOString());
    }
    const ledger = ledgerDepositSink(this.deps.db);
    const ledgerReversal = ledgerReversalSink(this.deps.db);
    const reverse: ReversalSink = async (event) => {
      const result = await ledgerReversal(event);
      if (result === 'reversed') {
        this.deps.log.warn(
          { rail: event.rail, eventId: event.eventId, userId: event.userId, amountMicros: String(event.amountMicros) },
          'deposit taken back',
        );
      }
      return result;
    };
    for (const rail of this.all) {
      const sink: DepositSink = async (event) => {
        const applied = await ledger(event);
        if (applied) {
          this.deps.log.info(
            { rail: event.rail, eventId: event.eventId, userId: event.userId, amountMicros: String(event.amountMicros) },
            'deposit credited',
          );
        }
        return applied;
      };
      try {
        await rail.start(sink, reverse);
      } catch (err) {
        await this.close();
        throw err;
      }
    }
    const names = ['operator', ...this.all.map((r) => r.name)];
    this.deps.log.info({ rails: names }, `payment rails: ${names.join(', ')}`);
  }

  /** Stops watching and waits for credits under way; idempotent. */
  close(): Promise<void> {
    this.closing ??= Promise.all(this.all.map((r) => r.close())).then(() => undefined);
    return this.closing;
  }

  /** What GET /api/v1/topup shows: operator credit, then each enabled rail, with each coin's current rate or why there is none. */
  async describe(): Promise<TopUpRail[]> {
    const rails: TopUpRail[] = [{ name: 'operator' }];
    if (this.paypal) rails.push({ name: 'paypal', currency: this.deps.currency });
    const eth = this.chains.get('ethereum');
    if (eth) {
      const coins = await this.quote(eth.coins);
      rails.push({ name: 'ethereum', chainId: Number(eth.chain), confirmations: eth.confirmations, coins });
    }
    const btc = this.chains.get('bitcoin');
    if (btc) rails.push({ name: 'bitcoin', network: btc.chain, confirmations: btc.confirmations, coins: await this.quote(btc.coins) });
    return rails;
  }

  /** The coins with their current rates; a coin without a good rate says why instead. */
  private async quote(coins: Coin[]): Promise<Coin[]> {
    return Promise.all(
      coins.map(async (coin) => {
        const check = await this.rate(coin.symbol);
        return check.usable
          ? { ...coin, rate: check.rate, rateSetAt: check.setAt }
          : { ...coin, rate: check.rate ?? '', unavailable: check.reason };
      }),
    );
  }

  /** A chain coin's rate as it stands now (see exchange-rates.ts). */
  async rate(coin: string): Promise<RateCheck> {
    return checkRate(coin, await findRate(this.deps.db, coin), this.settings.rates, this.deps.clock.now());
  }

  private async usableRate(coin: string): Promise<string> {
    const check = await this.rate(coin);
    if (!check.usable) throw new RateUnavailable(check.reason);
    return check.rate;
  }

  /**
   * The operator sets a chain coin's rate (`p2pvps admin rate set BTC 65000`): undefined for a
   * coin no enabled rail takes; throws RangeError for a rate that is not a positive decimal.
   */
  async setRate(coin: string, rate: string): Promise<{ coin: string; check: RateCheck } | undefined> {
    const symbol = [...this.seeds.keys()].find((c) => c.toUpperCase() === coin.toUpperCase());
    if (!symbol) return undefined;
    try {
      parseRate(rate);
    } catch (err) {
      throw new RangeError((err as Error).message);
    }
    await saveRate(this.deps.db, symbol, rate, this.deps.clock.now().toISOString());
    return { coin: symbol, check: await this.rate(symbol) };
  }

  /** The coins the chain rails take, for messages. */
  coinSymbols(): string[] {
    return [...this.seeds.keys()];
  }

  /** The names of the enabled rails, operator credit first. */
  names(): string[] {
    return ['operator', ...this.all.map((r) => r.name)];
  }

  isEnabled(rail: ChainRail): boolean {
    return this.chains.has(rail);
  }

  /** The renter asks to top up on a chain rail: their deposit address (allocated at the next index on first ask), watched from now. */
  async depositAddress(rail: ChainRail, userId: string): Promise<DepositAddress> {
    const parts = this.chains.get(rail);
    if (!parts) throw new Error(`the ${rail} rail is not enabled`);
    const now = this.deps.clock.now();
    const coins = await this.quote(parts.coins);
    // A quote no coin can be credited at is no quote: say why, and hand out no address.
    if (coins.every((c) => c.unavailable)) throw new RateUnavailable(coins.map((c) => c.unavailable).join(' '));
    const row = await allocateDepositAddress(this.deps.db, rail, userId, parts.derive, now.toISOString());
    const watchDays = rail === 'bitcoin' ? this.settings.bitcoin?.watchDays : undefined;
    return {
      rail,
      address: parts.display(row.address),
      chain: parts.chain,
      confirmations: parts.confirmations,
      coins,
      ...(watchDays !== undefined && { watchedUntil: new Date(now.getTime() + watchDays * 86_400_000).toISOString() }),
    };
  }
}
