/**
 * A minimal Ethereum JSON-RPC client over fetch: the four calls the rail needs, each
 * with a timeout, and replies checked field by field before the rail trusts them.
 */

/** The node could not be reached, timed out, or answered with something not JSON-RPC. */
export class RpcTransportError extends Error {
  override name = 'RpcTransportError';
}

/** The node answered with a JSON-RPC error object. */
export class RpcError extends Error {
  override name = 'RpcError';
  constructor(
    readonly method: string,
    readonly code: number,
    message: string,
  ) {
    super(`${method} failed: ${message} (JSON-RPC error ${code})`);
  }
}

export interface RpcTransaction {
  hash: string;
  /** Lower-case; null for a contract creation. */
  to: string | null;
  from: string;
  value: bigint;
  transactionIndex: number;
}

export interface RpcBlock {
  number: bigint;
  hash: string;
  parentHash: string;
  /** Seconds since the epoch. */
  timestamp: bigint;
  transactions: RpcTransaction[];
}

export interface RpcLog {
  /** Lower-case. */
  address: string;
  topics: string[];
  data: string;
  blockNumber: bigint;
  blockHash: string;
  transactionHash: string;
  logIndex: number;
  removed: boolean;
}

export interface LogFilter {
  fromBlock: bigint;
  toBlock: bigint;
  address?: string;
  topics?: (string | null)[];
}

export interface JsonRpcClientOptions {
  /** Per request; default 10 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export class JsonRpcClient {
  private nextId = 1;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(
    readonly url: string,
    options: JsonRpcClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  async call(method: string, params: unknown[] = []): Promise<unknown> {
    const id = this.nextId++;
    let response: Response;
    let body: unknown;
    try {
      response = await this.fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      body = await response.json();
    } catch (err) {
      const e = err as Error;
      const why =
        e.name === 'TimeoutError'
          ? `no reply within ${this.timeoutMs} ms`
          : e.name === 'SyntaxError'
            ? 'the reply is not JSON'
            : describeFetchError(e);
      throw new RpcTransportError(`${method} to ${redact(this.url)} failed: ${why}`, { cause: err });
    }
    if (!isObject(body)) throw new RpcTransportError(`${method}: the reply is not a JSON-RPC object.`);
    if (isObject(body.error)) {
      throw new RpcError(method, Number(body.error.code), String(body.error.message ?? 'unknown error'));
    }
    if (!response.ok) throw new RpcTransportError(`${method}: HTTP ${response.status} from ${redact(this.url)}.`);
    if (!('result' in body)) throw new RpcTransportError(`${method}: the reply has neither result nor error.`);
    return body.result;
  }

  async chainId(): Promise<bigint> {
    return quantity(await this.call('eth_chainId'), 'eth_chainId');
  }

  async blockNumber(): Promise<bigint> {
    return quantity(await this.call('eth_blockNumber'), 'eth_blockNumber');
  }

  /** The block with full transactions, or null when the node does not have it (yet). */
  async getBlockByNumber(number: bigint): Promise<RpcBlock | null> {
    const raw = await this.call('eth_getBlockByNumber', [hex(number), true]);
    if (raw === null) return null;
    return parseBlock(raw);
  }

  async getLogs(filter: LogFilter): Promise<RpcLog[]> {
    const raw = await this.call('eth_getLogs', [
      {
        fromBlock: hex(filter.fromBlock),
        toBlock: hex(filter.toBlock),
        ...(filter.address ? { address: filter.address } : {}),
        ...(filter.topics ? { topics: filter.topics } : {}),
      },
    ]);
    if (!Array.isArray(raw)) throw new RpcTransportError('eth_getLogs: the result is not an array.');
    return raw.map(parseLog);
  }
}

export function hex(n: bigint): string {
  return `0x${n.toString(16)}`;
}

function quantity(value: unknown, what: string): bigint {
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{1,64}$/.test(value)) {
    throw new RpcTransportError(`${what}: expected a hex quantity, got ${JSON.stringify(value)}.`);
  }
  return BigInt(value);
}

function data(value: unknown, what: string, bytes?: number): string {
  const pattern = bytes === undefined ? /^0x([0-9a-fA-F]{2})*$/ : new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`);
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new RpcTransportError(`${what}: expected hex data, got ${JSON.stringify(value)}.`);
  }
  return value.toLowerCase();
}

function parseBlock(raw: unknown): RpcBlock {
  if (!isObject(raw) || !Array.isArray(raw.transactions)) {
    throw new RpcTransportError('eth_getBlockByNumber: the result is not a block with transactions.');
  }
  return {
    number: quantity(raw.number, 'block.number'),
    hash: data(raw.hash, 'block.hash', 32),
    parentHash: data(raw.parentHash, 'block.parentHash', 32),
    timestamp: quantity(raw.timestamp, 'block.timestamp'),
    transactions: raw.transactions.map((tx: unknown) => {
      if (!isObject(tx)) throw new RpcTransportError('eth_getBlockByNumber: asked for full transactions, got hashes.');
      return {
        hash: data(tx.hash, 'tx.hash', 32),
        to: tx.to === null || tx.to === undefined ? null : data(tx.to, 'tx.to', 20),
        from: data(tx.from, 'tx.from', 20),
        value: quantity(tx.value, 'tx.value'),
        transactionIndex: Number(quantity(tx.transactionIndex, 'tx.transactionIndex')),
      };
    }),
  };
}

function parseLog(raw: unknown): RpcLog {
  if (!isObject(raw) || !Array.isArray(raw.topics)) throw new RpcTransportError('eth_getLogs: an entry is not a log.');
  return {
    address: data(raw.address, 'log.address', 20),
    topics: raw.topics.map((t: unknown) => data(t, 'log.topic', 32)),
    data: data(raw.data, 'log.data'),
    blockNumber: quantity(raw.blockNumber, 'log.blockNumber'),
    blockHash: data(raw.blockHash, 'log.blockHash', 32),
    transactionHash: data(raw.transactionHash, 'log.transactionHash', 32),
    logIndex: Number(quantity(raw.logIndex, 'log.logIndex')),
    removed: raw.removed === true,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeFetchError(err: Error): string {
  const cause = err.cause as { code?: string; message?: string } | undefined;
  return cause?.code ?? cause?.message ?? err.message;
}

/** Node URLs often carry an API key in the path or userinfo; keep it out of logs. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(invalid URL)';
  }
}
