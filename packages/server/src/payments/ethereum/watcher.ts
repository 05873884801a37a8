/**
 * The Ethereum payment rail: follows the chain from a persisted cursor and turns
 * confirmed deposits to renters' addresses into deposit events:
 *
 * - plain ETH transfers (a transaction whose `to` is a deposit address and value > 0):
 *   eventId `eth:${txHash}`;
 * - ERC-20 Transfer logs emitted by the ONE configured token contract whose recipient is
 *   a deposit address: eventId `erc20:${txHash}:${logIndex}`.
 *
 * A block is scanned once it has `confirmations` confirmations (the block holding a
 * transaction is its first), i.e. when head ≥ block + confirmations − 1. A reorg deeper than
 * that (or one while the server was stopped) is noticed through the trail of block hashes kept
 * with the cursor (chain-trail.ts): the cursor rewinds to where the chains agree, the blocks
 * are scanned again, and credits from blocks that are gone and not found again are taken back.
 * Delivery is at-least-once: the cursor advances only after
 * the sink has accepted every event of a batch, and eventIds are stable, so the ledger's
 * (rail, eventId) dedupe makes crediting exactly-once across re-scans and restarts.
 *
 * Not seen: ETH sent to a deposit address by a contract (an internal call, visible only
 * through trace APIs), and tokens other than the configured one; both need an operator.
 */
import type { DepositEvent, DepositSink, PaymentRail, ReversalSink } from '../rail.ts';
import { emptyTrail, extendTrail, forkPoint, type ChainTrail, type TrailEvent } from './chain-trail.ts';
import { type ExactRate, formatUnits, parseRate, toMicros } from './amount.ts';
import { checkConfig, type EthereumRailConfig, type Settings } from './rail-config.ts';
import { JsonRpcClient, RpcTransportError, type RpcBlock, type RpcLog } from './json-rpc.ts';
import type { BlockCursor, DepositDirectory } from './stores.ts';

/** keccak256("Transfer(address,address,uint256)") */
export const TRANSFER_TOPIC = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef';

/** pino-compatible: the server passes its logger (or a child of it). */
export interface RailLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface EthereumRailDeps {
  cursor: BlockCursor;
  directory: DepositDirectory;
  log: RailLogger;
  /**
   * The current rate of a coin (ETH, the token's symbol) when the operator feeds rates
   * (exchange-rates.ts): asked per batch that has deposits; throws RateUnavailable when there is
   * no good one, and the batch waits. Without it, the config's rates are used.
   */
  rateOf?: (symbol: string) => Promise<string>;
  /** Defaults to a client for config.rpcUrl. */
  rpc?: JsonRpcClient;
  /** In a cluster only the node leading the periodic work polls (cluster/leader-lease.ts); the others wait their turn. */
  mayPoll?: () => boolean;
}

export class ChainMismatchError extends Error {
  override name = 'ChainMismatchError';
}

export interface ScanResult {
  /** The last block scanned, or null when nothing is confirmed beyond the cursor. */
  scannedTo: bigint | null;
  /** Events the sink accepted as new. */
  credited: number;
  /** More confirmed blocks remain beyond this batch. */
  behind: boolean;
  /** The chain was reorganised under the cursor: it went back to this block. */
  rewoundTo?: bigint;
}

export class EthereumRail implements PaymentRail {
  readonly name = 'ethereum';
  private readonly rpc: JsonRpcClient;
  private readonly settings: Settings;
  private sink: DepositSink | undefined;
  private reverse: ReversalSink | undefined;
  private chainVerified = false;
  private scanning: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly config: EthereumRailConfig,
    private readonly deps: EthereumRailDeps,
  ) {
    this.settings = checkConfig(config);
    this.rpc = deps.rpc ?? new JsonRpcClient(config.rpcUrl, { timeoutMs: config.rpcTimeoutMs ?? 10_000 });
  }

  /**
   * Checks the node's chain (throws ChainMismatchError on the wrong one; an unreachable
   * node is only logged, the poll loop retries) and starts polling.
   */
  async start(sink: DepositSink, reverse?: ReversalSink): Promise<void> {
    if (this.sink) throw new Error('The Ethereum rail is already started.');
    this.sink = sink;
    this.reverse = reverse;
    try {
      await this.verifyChain();
    } catch (err) {
      if (err instanceof ChainMismatchError) {
        this.sink = undefined;
        throw err;
      }
      this.deps.log.warn({ err }, 'Ethereum node unreachable at start; the rail keeps retrying.');
    }
    this.schedule(0);
  }

  /** Scans the next batch of confirmed blocks now; serialized with the poll loop. */
  scan(): Promise<ScanResult> {
    const run = this.scanning.then(() => this.scanBatch());
    this.scanning = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.scanning;
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.poll(), delayMs);
  }

  private async poll(): Promise<void> {
    if (this.deps.mayPoll?.() === false) return this.schedule(this.settings.pollIntervalMs);
    let delay: number;
    try {
      const result = await this.scan();
      if (this.failures > 0) this.deps.log.info({ failures: this.failures }, 'Ethereum rail recovered.');
      this.failures = 0;
      delay = result.behind ? 0 : this.settings.pollIntervalMs;
    } catch (err) {
      this.failures++;
      delay = Math.min(this.settings.maxBackoffMs, this.settings.pollIntervalMs * 2 ** Math.min(this.failures, 20));
      const level = err instanceof ChainMismatchError ? 'error' : 'warn';
      this.deps.log[level]({ err, failures: this.failures, retryInMs: delay }, 'Ethereum rail scan failed; retrying.');
    }
    this.schedule(delay);
  }

  private async verifyChain(): Promise<void> {
    if (this.chainVerified) return;
    const chainId = await this.rpc.chainId();
    if (chainId !== this.config.chainId) {
      throw new ChainMismatchError(
        `The Ethereum node at the configured RPC URL is on chain ${chainId}, but the rail is configured for chain ${this.config.chainId}; no deposits are scanned until they match.`,
      );
    }
    this.chainVerified = true;
  }

  private async scanBatch(): Promise<ScanResult> {
    const sink = this.sink;
    if (!sink) throw new Error('The Ethereum rail is not started.');
    try {
      return await this.scanBatchWith(sink);
    } catch (err) {
      // After a transport failure the node may have been swapped: check its chain again.
      if (err instanceof RpcTransportError) this.chainVerified = false;
      throw err;
    }
  }

  private async scanBatchWith(sink: DepositSink): Promise<ScanResult> {
    await this.verifyChain();
    const head = await this.rpc.blockNumber();
    const confirmedHead = head - BigInt(this.config.confirmations) + 1n;
    const saved = await this.deps.cursor.load();
    let trail = saved === null ? emptyTrail() : await this.deps.cursor.loadTrail();
    const last = trail.blocks.at(-1);
    if (saved !== null && last && BigInt(last.number) === saved) {
      // One call per poll: is the block the cursor stands on still the node's?
      if ((await this.rpc.getBlockByNumber(saved))?.hash !== last.hash) return this.rewind(saved, trail);
    }
    const from = saved !== null ? saved + 1n : (this.config.startBlock ?? (confirmedHead < 0n ? 0n : confirmedHead));
    if (from > confirmedHead) return { scannedTo: null, credited: 0, behind: false };
    const to = min(confirmedHead, from + this.settings.maxBlocksPerBatch - 1n);

    const blocks = await this.fetchBlocks(from, to);
    if (last && BigInt(last.number) === from - 1n && blocks[0]!.parentHash !== last.hash) {
      throw new Error(`The chain changed under the cursor at block ${from}; scanning again.`);
    }
    const logs = await this.fetchTokenLogs(from, to, blocks);
    const found = await this.depositsIn(blocks, logs, await this.currentRates());

    let credited = 0;
    const byBlock = new Map<bigint, TrailEvent[]>();
    for (const { block, event } of found) {
      if (await sink(event)) {
        credited++;
        this.deps.log.info(
          { eventId: event.eventId, userId: event.userId, amountMicros: String(event.amountMicros) },
          'Ethereum deposit credited.',
        );
      }
      const entry = { eventId: event.eventId, userId: event.userId, amountMicros: String(event.amountMicros), reference: event.reference };
      byBlock.set(block, [...(byBlock.get(block) ?? []), entry]);
    }
    trail = extendTrail(trail, from, blocks, byBlock);
    if (trail.orphans) trail = await this.settleOrphans(trail, to, new Set(found.map((f) => f.event.eventId)));
    await this.deps.cursor.save(to, trail);
    return { scannedTo: to, credited, behind: to < confirmedHead };
  }

  /** The block under the cursor is gone: back to the newest block both chains share, with what was credited since as orphans. */
  private async rewind(saved: bigint, trail: ChainTrail): Promise<ScanResult> {
    const fork = await forkPoint(trail, async (n) => (await this.rpc.getBlockByNumber(n))?.hash ?? null);
    const kept = fork ? trail.blocks.slice(0, trail.blocks.indexOf(fork) + 1) : [];
    const gone = trail.blocks.slice(kept.length);
    const position = fork ? BigInt(fork.number) : BigInt(gone[0]!.number) - 1n;
    const orphans = [...(trail.orphans?.events ?? []), ...gone.flatMap((b) => b.events)];
    const until = trail.orphans && BigInt(trail.orphans.until) > saved ? BigInt(trail.orphans.until) : saved;
    this.deps.log.error(
      { cursor: String(saved), rewoundTo: String(position), orphans: orphans.map((o) => o.eventId) },
      fork
        ? 'The Ethereum chain was reorganised below the cursor; rewinding to where the chains agree and scanning again.'
        : `The Ethereum chain was reorganised deeper than the ${trail.blocks.length} blocks kept; rewinding as far as they go and scanning again.`,
    );
    await this.deps.cursor.save(position, {
      blocks: kept,
      ...(orphans.length > 0 && { orphans: { until: String(until), events: orphans } }),
    });
    return { scannedTo: null, credited: 0, behind: true, rewoundTo: position };
  }

  /** Orphans the rescan found again stay credited; once it has passed where they were, the rest are taken back. */
  private async settleOrphans(trail: ChainTrail, to: bigint, found: Set<string>): Promise<ChainTrail> {
    const { until, events } = trail.orphans!;
    const missing = events.filter((e) => !found.has(e.eventId));
    if (to < BigInt(until)) return { ...trail, orphans: { until, events: missing } };
    for (const orphan of missing) {
      if (!this.reverse) {
        this.deps.log.error({ eventId: orphan.eventId, userId: orphan.userId }, 'A deposit left the chain in a reorg; settle it by hand.');
        continue;
      }
      const result = await this.reverse({
        rail: this.name,
        eventId: `reorg:${orphan.eventId}`,
        reverses: orphan.eventId,
        userId: orphan.userId,
        amountMicros: BigInt(orphan.amountMicros),
        reference: `Taken back: ${orphan.reference} left the chain in a reorg`,
        occurredAt: new Date().toISOString(),
      });
      this.deps.log.error({ eventId: orphan.eventId, userId: orphan.userId, result }, 'A deposit left the chain in a reorg; taken back.');
    }
    return { blocks: trail.blocks };
  }

  private async fetchBlocks(from: bigint, to: bigint): Promise<RpcBlock[]> {
    const blocks: RpcBlock[] = [];
    for (let n = from; n <= to; n++) {
      const block = await this.rpc.getBlockByNumber(n);
      if (!block) throw new RpcTransportError(`The node does not have block ${n} although its head is past it.`);
      const previous = blocks.at(-1);
      if (previous && block.parentHash !== previous.hash) {
        throw new Error(`The chain changed during the scan at block ${n}; scanning again.`);
      }
      blocks.push(block);
    }
    return blocks;
  }

  private async fetchTokenLogs(from: bigint, to: bigint, blocks: RpcBlock[]): Promise<RpcLog[]> {
    const token = this.settings.token;
    if (!token) return [];
    const logs = await this.rpc.getLogs({ fromBlock: from, toBlock: to, address: token.address, topics: [TRANSFER_TOPIC] });
    const hashes = new Map(blocks.map((b) => [b.number, b.hash]));
    for (const log of logs) {
      // Logs and blocks come from separate calls; both must describe the same chain.
      if (log.removed || hashes.get(log.blockNumber) !== log.blockHash) {
        throw new Error(`The chain changed during the scan at block ${log.blockNumber}; scanning again.`);
      }
    }
    return logs;
  }

  /** The rates to credit this batch at: fed ones, checked, or the config's. Asked lazily, so a batch without deposits needs none. */
  private currentRates(): (symbol: string, fixed: ExactRate) => Promise<ExactRate> {
    const asked = new Map<string, Promise<ExactRate>>();
    return (symbol, fixed) => {
      const rateOf = this.deps.rateOf;
      if (!rateOf) return Promise.resolve(fixed);
      if (!asked.has(symbol)) asked.set(symbol, rateOf(symbol).then(parseRate));
      return asked.get(symbol)!;
    };
  }

  private async depositsIn(
    blocks: RpcBlock[],
    logs: RpcLog[],
    rateOf: (symbol: string, fixed: ExactRate) => Promise<ExactRate>,
  ): Promise<{ block: bigint; event: DepositEvent }[]> {
    const token = this.settings.token;
    const transfers = token
      ? logs.filter(
          (log) =>
            log.address === token.address &&
            log.topics.length === 3 && // ERC-721 Transfer has the same topic with 4 topics
            log.topics[0] === TRANSFER_TOPIC &&
            log.data.length === 66,
        )
      : [];
    const candidates = new Set<string>();
    for (const block of blocks) {
      for (const tx of block.transactions) if (tx.to && tx.value > 0n) candidates.add(tx.to);
    }
    for (const log of transfers) candidates.add(topicAddress(log.topics[2]!));
    if (candidates.size === 0) return [];
    const owners = await this.deps.directory.owners([...candidates]);

    const events: { block: bigint; event: DepositEvent }[] = [];
    const timestamps = new Map(blocks.map((b) => [b.number, new Date(Number(b.timestamp) * 1000).toISOString()]));
    for (const block of blocks) {
      const txs = [...block.transactions].sort((a, b) => a.transactionIndex - b.transactionIndex);
      for (const tx of txs) {
        const userId = tx.to && tx.value > 0n ? owners.get(tx.to) : undefined;
        if (userId === undefined) continue;
        this.push(events, block.number, {
          rail: this.name,
          eventId: `eth:${tx.hash}`,
          userId,
          amountMicros: toMicros(tx.value, 18, await rateOf('ETH', this.settings.ethRate)),
          reference: `${formatUnits(tx.value, 18)} ETH, tx ${tx.hash}`,
          occurredAt: timestamps.get(block.number)!,
        });
      }
      if (!token) continue;
      const blockLogs = transfers.filter((l) => l.blockNumber === block.number).sort((a, b) => a.logIndex - b.logIndex);
      for (const log of blockLogs) {
        const userId = owners.get(topicAddress(log.topics[2]!));
        if (userId === undefined) continue;
        const amount = BigInt(log.data);
        this.push(events, block.number, {
          rail: this.name,
          eventId: `erc20:${log.transactionHash}:${log.logIndex}`,
          userId,
          amountMicros: toMicros(amount, token.decimals, await rateOf(token.symbol, token.rate)),
          reference: `${formatUnits(amount, token.decimals)} ${token.symbol}, tx ${log.transactionHash}`,
          occurredAt: timestamps.get(block.number)!,
        });
      }
    }
    return events;
  }

  private push(events: { block: bigint; event: DepositEvent }[], block: bigint, event: DepositEvent): void {
    if (event.amountMicros > 0n) {
      events.push({ block, event });
    } else {
      this.deps.log.info({ eventId: event.eventId }, 'Ethereum deposit below one micro-unit; not credited.');
    }
  }
}

/** The address in an indexed address topic (the last 20 of its 32 bytes), lower-case. */
function topicAddress(topic: string): string {
  return `0x${topic.slice(26)}`;
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
