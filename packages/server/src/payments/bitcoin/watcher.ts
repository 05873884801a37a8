/**
 * The Bitcoin payment rail: polls an Esplora-compatible API for payments to the renters'
 * deposit addresses and credits each output once it is deep enough. Polling rather than a
 * node's push notifications keeps the server free of a Bitcoin node; the price of that is a
 * delay of up to one poll interval after the last needed confirmation.
 *
 * The rail never throws after start: API outages, timeouts, bad replies and sink errors are
 * logged, and the scan is repeated after a backoff that doubles per failed poll, up to a cap.
 */
import type { DepositSink, PaymentRail } from '../rail.ts';
import { systemClock, type Clock } from '../../domain/clock.ts';
import { parseBtcPrice } from './btc-price.ts';
import { EsploraClient } from './esplora-client.ts';
import { DepositScanner, type BitcoinRailLog, type DepositAddressOwner, type ScanOutcome } from './deposit-scanner.ts';

export type { BitcoinRailLog, DepositAddressOwner, ScanOutcome };

export interface BitcoinRailOptions {
  /** In a cluster only the node leading the periodic work polls (cluster/leader-lease.ts); the others wait their turn. */
  mayPoll?: () => boolean;
  /** Base URL of an Esplora-compatible API, e.g. `https://blockstream.info/api`. */
  esploraUrl: string;
  /** Confirmations an output needs before it is credited; 1 means "in a block". */
  minConfirmations: number;
  /** Marketplace currency units per 1 BTC as an exact decimal, e.g. "65000.00"; amounts round down to the micro-unit. */
  btcPrice: string;
  /**
   * The current price, asked once per poll, when the operator feeds it (exchange-rates.ts);
   * throws RateUnavailable when there is no good one, and the poll credits nothing and backs off.
   */
  currentPrice?: () => Promise<string>;
  /** The deposit addresses to watch and whose they are, asked afresh on every poll. */
  depositAddresses(): Promise<readonly DepositAddressOwner[]> | readonly DepositAddressOwner[];
  /** Time between polls. Default 60 s. */
  pollIntervalMs?: number;
  /** The longest wait between polls while they keep failing. Default 10 min. */
  maxRetryDelayMs?: number;
  /** Each request to the API must finish within this. Default 15 s. */
  requestTimeoutMs?: number;
  /** Addresses queried at once. Default 4. */
  concurrency?: number;
  fetch?: typeof fetch;
  log?: BitcoinRailLog;
  /** For deposits whose block time the API does not give. */
  clock?: Clock;
}

const silentLog: BitcoinRailLog = { info() {}, warn() {} };

export class BitcoinRail implements PaymentRail {
  readonly name = 'bitcoin';
  private readonly scanner: DepositScanner;
  private readonly log: BitcoinRailLog;
  private readonly pollIntervalMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly mayPoll: (() => boolean) | undefined;
  private readonly closing = new AbortController();
  private sink: DepositSink | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<unknown> = Promise.resolve();
  private failedPolls = 0;
  private closed: Promise<void> | undefined;

  /** Throws RangeError on an unusable option (URL, price, counts), so the server can report it at start. */
  constructor(options: BitcoinRailOptions) {
    this.log = options.log ?? silentLog;
    this.mayPoll = options.mayPoll;
    this.pollIntervalMs = positiveInt('pollIntervalMs', options.pollIntervalMs ?? 60_000);
    this.maxRetryDelayMs = positiveInt('maxRetryDelayMs', options.maxRetryDelayMs ?? 600_000);
    const client = new EsploraClient({
      baseUrl: options.esploraUrl,
      requestTimeoutMs: positiveInt('requestTimeoutMs', options.requestTimeoutMs ?? 15_000),
      signal: this.closing.signal,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    const fixed = parseBtcPrice(options.btcPrice);
    const current = options.currentPrice;
    this.scanner = new DepositScanner({
      client,
      price: current ? async () => parseBtcPrice(await current()) : () => fixed,
      minConfirmations: options.minConfirmations,
      depositAddresses: options.depositAddresses,
      concurrency: options.concurrency ?? 4,
      log: this.log,
      clock: options.clock ?? systemClock,
    });
  }

  /** Starts polling (the first poll right away) and resolves at once; it does not wait for the API. */
  async start(sink: DepositSink): Promise<void> {
    if (this.closed) throw new Error('the bitcoin rail is closed');
    if (this.sink) throw new Error('the bitcoin rail is already started');
    this.sink = sink;
    this.schedule(0);
  }

  /** Polls now (after any poll under way) and reports what it did. The regular schedule is unchanged. */
  pollNow(): Promise<ScanOutcome> {
    const sink = this.sink;
    if (!sink) return Promise.reject(new Error('the bitcoin rail is not started'));
    const poll = this.polling.then(() => this.scanner.scan(sink, () => this.closing.signal.aborted));
    this.polling = poll.catch(() => undefined);
    return poll;
  }

  /** Stops polling and aborts requests under way; resolves when the poll under way has stopped. Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      clearTimeout(this.timer);
      this.closing.abort();
      await this.polling;
    })();
    return this.closed;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => void this.tick(), delayMs);
  }

  private async tick(): Promise<void> {
    if (this.mayPoll?.() === false) return this.schedule(this.pollIntervalMs);
    let outcome: ScanOutcome;
    try {
      outcome = await this.pollNow();
    } catch (err) {
      // scan() never throws; this is a last guard so that a bug cannot stop the rail for good.
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'bitcoin poll failed unexpectedly');
      outcome = { credited: 0, alreadyApplied: 0, failures: 1, transientFailure: true };
    }
    if (this.closing.signal.aborted) return;
    if (outcome.transientFailure) {
      this.failedPolls++;
    } else if (this.failedPolls > 0) {
      this.log.info({ failedPolls: this.failedPolls }, 'bitcoin polling recovered');
      this.failedPolls = 0;
    }
    this.schedule(this.nextDelayMs());
  }

  private nextDelayMs(): number {
    if (this.failedPolls === 0) return this.pollIntervalMs;
    const cap = Math.max(this.maxRetryDelayMs, this.pollIntervalMs);
    return Math.min(this.pollIntervalMs * 2 ** Math.min(this.failedPolls, 30), cap);
  }
}

/** The longest delay setTimeout honours (about 24.8 days); longer ones fire at once. */
const maxTimerMs = 2 ** 31 - 1;

function positiveInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > maxTimerMs) {
    throw new RangeError(`${name} must be a positive integer of milliseconds up to ${maxTimerMs}, not ${value}`);
  }
  return value;
}
