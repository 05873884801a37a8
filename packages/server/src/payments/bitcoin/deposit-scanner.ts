/**
 * One pass over the renters' deposit addresses: find every output paying one of them that has
 * enough confirmations, and hand it to the ledger as a DepositEvent. The scanner decides what
 * to credit; the rail in watcher.ts decides when to scan.
 */
import type { DepositEvent, DepositSink } from '../rail.ts';
import type { Clock } from '../../domain/clock.ts';
import { formatBtc, satsToMicros, type BtcPrice } from './btc-price.ts';
import { EsploraError, type EsploraClient, type EsploraTransaction } from './esplora-client.ts';

export interface DepositAddressOwner {
  userId: string;
  address: string;
}

export interface BitcoinRailLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface DepositScannerOptions {
  client: EsploraClient;
  /** The price to credit at, asked once per scan; throws (RateUnavailable) when there is no good one, and the scan waits. */
  price(): Promise<BtcPrice> | BtcPrice;
  /** An output is credited once its block is this deep (1 = in the newest block). */
  minConfirmations: number;
  /** The deposit addresses to watch and whose they are, asked afresh on every scan. */
  depositAddresses(): Promise<readonly DepositAddressOwner[]> | readonly DepositAddressOwner[];
  /** Addresses queried at once. */
  concurrency: number;
  log: BitcoinRailLog;
  clock: Clock;
}

export interface ScanOutcome {
  /** Events the sink applied for the first time. */
  credited: number;
  /** Events the sink already had (returned false). */
  alreadyApplied: number;
  /** Requests or sink calls that failed; what they would have credited is retried on the next scan. */
  failures: number;
  /** Whether a failure looked temporary (API down, slow, rate-limiting, sink error): the rail then backs off. */
  transientFailure: boolean;
}

/** A scan reads at most this many pages of one address's history (25 transactions each), so a misbehaving API cannot hold it forever. */
const maxPagesPerAddress = 400;

export class DepositScanner {
  /** Event IDs the sink has accepted (or already had) in this run: not offered again. */
  private readonly delivered = new Set<string>();
  /**
   * Per address, the newest transaction that was deep enough in the last complete, error-free
   * scan. Everything older was delivered then, so later scans stop reading history there.
   */
  private readonly settledTxid = new Map<string, string>();

  constructor(private readonly options: DepositScannerOptions) {
    if (!Number.isSafeInteger(options.minConfirmations) || options.minConfirmations < 1) {
      throw new RangeError(`minConfirmations must be a positive integer, not ${options.minConfirmations}`);
    }
    if (!Number.isSafeInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, not ${options.concurrency}`);
    }
  }

  /** Never throws: every problem is logged and reflected in the outcome. */
  async scan(sink: DepositSink, isClosed: () => boolean = () => false): Promise<ScanOutcome> {
    const outcome: ScanOutcome = { credited: 0, alreadyApplied: 0, failures: 0, transientFailure: false };
    const fail = (transient: boolean) => {
      outcome.failures++;
      outcome.transientFailure ||= transient;
    };

    let owners: Map<string, string>;
    let tip: number;
    let price: BtcPrice;
    try {
      owners = this.ownersByAddress(await this.options.depositAddresses());
      if (owners.size === 0) return outcome;
      tip = await this.options.client.tipHeight();
      price = await this.options.price();
    } catch (err) {
      this.logFailure(err, 'bitcoin scan could not start; retrying on the next poll');
      fail(err instanceof EsploraError ? err.transient : true);
      return outcome;
    }

    const queue = [...owners.keys()];
    const worker = async () => {
      for (let address = queue.shift(); address !== undefined && !isClosed(); address = queue.shift()) {
        await this.scanAddress(address, owners, tip, price, sink, isClosed, outcome, fail);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, queue.length) }, worker));
    return outcome;
  }

  private async scanAddress(
    address: string,
    owners: Map<string, string>,
    tip: number,
    price: BtcPrice,
    sink: DepositSink,
    isClosed: () => boolean,
    outcome: ScanOutcome,
    fail: (transient: boolean) => void,
  ): Promise<void> {
    const { client } = this.options;
    const settled = this.settledTxid.get(address);
    const seen = new Set<string>();
    /** Deep enough, newest first, each transaction once (pages may overlap). */
    const deep: EsploraTransaction[] = [];
    let complete = true;

    try {
      let page = await client.addressTransactions(address);
      for (let pages = 1; ; pages++) {
        let lastConfirmed: string | undefined;
        let sawNew = false;
        let reachedSettled = false;
        for (const tx of page) {
          if (!tx.status.confirmed) continue;
          lastConfirmed = tx.txid;
          if (tx.txid === settled) {
            reachedSettled = true;
            break;
          }
          if (seen.has(tx.txid)) continue;
          seen.add(tx.txid);
          sawNew = true;
          if (tip - tx.status.block_height! + 1 >= this.options.minConfirmations) deep.push(tx);
        }
        if (reachedSettled || !sawNew || lastConfirmed === undefined) break;
        if (pages >= maxPagesPerAddress) {
          this.options.log.warn(
            { address, pages },
            'bitcoin address history is too long to read in one scan; older deposits are not looked at',
          );
          break;
        }
        page = await client.olderConfirmedTransactions(address, lastConfirmed);
      }
    } catch (err) {
      this.logFailure(err, 'bitcoin address could not be read; retrying on the next poll', { address });
      fail(err instanceof EsploraError ? err.transient : true);
      complete = false;
    }

    // Oldest first, so a statement lists deposits in the order they happened.
    for (const tx of [...deep].reverse()) {
      for (const [vout, output] of tx.vout.entries()) {
        if (isClosed()) return;
        const outputAddress = output.scriptpubkey_address && normalizeAddress(output.scriptpubkey_address);
        const userId = outputAddress === undefined ? undefined : owners.get(outputAddress);
        if (userId === undefined) continue;
        const eventId = `${tx.txid}:${vout}`;
        if (this.delivered.has(eventId)) continue;
        const event = this.depositEvent(tx, vout, BigInt(output.value), userId, price);
        if (event.amountMicros === 0n) {
          this.options.log.info(
            { eventId, userId, sats: output.value },
            'bitcoin deposit too small to be worth a micro-unit; not credited',
          );
          this.delivered.add(eventId);
          continue;
        }
        try {
          const applied = await sink(event);
          this.delivered.add(eventId);
          if (applied) {
            outcome.credited++;
            this.options.log.info(
              { eventId, userId, sats: output.value, amountMicros: event.amountMicros.toString(), price: price.text },
              'bitcoin deposit credited',
            );
          } else {
            outcome.alreadyApplied++;
          }
        } catch (err) {
          this.logFailure(err, 'bitcoin deposit could not be recorded; retrying on the next poll', { eventId, userId });
          fail(true);
          complete = false;
        }
      }
    }

    const newestDeep = deep[0];
    if (complete && newestDeep) this.settledTxid.set(address, newestDeep.txid);
  }

  private depositEvent(tx: EsploraTransaction, vout: number, sats: bigint, userId: string, price: BtcPrice): DepositEvent {
    const blockTime = tx.status.block_time;
    return {
      rail: 'bitcoin',
      eventId: `${tx.txid}:${vout}`,
      userId,
      amountMicros: satsToMicros(sats, price),
      reference: `${formatBtc(sats)} BTC at ${price.text} per BTC, output ${vout} of transaction ${tx.txid}`,
      occurredAt: (typeof blockTime === 'number' ? new Date(blockTime * 1000) : this.options.clock.now()).toISOString(),
    };
  }

  /** Address → user. An address claimed by two users is dropped (and logged): crediting either could be wrong. */
  private ownersByAddress(list: readonly DepositAddressOwner[]): Map<string, string> {
    const owners = new Map<string, string>();
    const contested = new Set<string>();
    for (const { userId, address } of list) {
      const key = normalizeAddress(address);
      const owner = owners.get(key);
      if (owner !== undefined && owner !== userId) contested.add(key);
      owners.set(key, userId);
    }
    for (const address of contested) {
      owners.delete(address);
      this.options.log.warn(
        { address },
        'bitcoin deposit address belongs to more than one user; its deposits are not credited until that is fixed',
      );
    }
    return owners;
  }

  private logFailure(err: unknown, msg: string, context: object = {}): void {
    if (err instanceof EsploraError) {
      if (err.failure === 'closed') return;
      this.options.log.warn({ ...context, request: err.path, failure: err.failure, status: err.status, err: err.message }, msg);
    } else {
      this.options.log.warn({ ...context, err: err instanceof Error ? err.message : String(err) }, msg);
    }
  }
}

/** bech32 addresses are case-insensitive and Esplora answers in lower case; base58 ones are case-sensitive. */
function normalizeAddress(address: string): string {
  const trimmed = address.trim();
  return /^(bc|tb|bcrt)1/i.test(trimmed) ? trimmed.toLowerCase() : trimmed;
}
