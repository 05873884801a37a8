/**
 * The few calls of the Esplora HTTP API (Blockstream's block explorer API, also served by
 * mempool.space and self-hosted electrs) that the Bitcoin rail needs, with a timeout on every
 * request and each reply checked against a schema before anything trusts it.
 * API reference: https://github.com/Blockstream/esplora/blob/master/API.md
 */
import { z } from 'zod';

/** Bitcoin's supply cap in satoshis: a larger output value is a broken reply, not money. */
const maxSats = 2_100_000_000_000_000;

/**
 * One transaction in Esplora's transaction format, reduced to what crediting a deposit needs.
 * Confirmed transactions carry the height and time of their block; unconfirmed ones carry nulls
 * or nothing there.
 */
export const esploraTransactionSchema = z
  .object({
    txid: z.string().regex(/^[0-9a-f]{64}$/),
    vout: z.array(
      z.object({
        // Absent for outputs without an address (OP_RETURN, bare multisig).
        scriptpubkey_address: z.string().optional(),
        value: z.number().int().nonnegative().max(maxSats),
      }),
    ),
    status: z.object({
      confirmed: z.boolean(),
      block_height: z.number().int().nonnegative().nullish(),
      block_time: z.number().int().nonnegative().nullish(),
    }),
  })
  .refine((tx) => !tx.status.confirmed || typeof tx.status.block_height === 'number', {
    message: 'a confirmed transaction must have a block_height',
    path: ['status', 'block_height'],
  });

export type EsploraTransaction = z.infer<typeof esploraTransactionSchema>;

const transactionListSchema = z.array(esploraTransactionSchema);

export type EsploraFailure = 'timeout' | 'network' | 'http' | 'bad_reply' | 'closed';

/** A request to the Esplora API failed. `path` never includes the base URL, which may carry an API key. */
export class EsploraError extends Error {
  constructor(
    readonly failure: EsploraFailure,
    readonly path: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'EsploraError';
  }

  /** Worth trying again later (the API was down, slow, rate-limiting or garbled), rather than a request it will always refuse. */
  get transient(): boolean {
    if (this.failure !== 'http') return this.failure !== 'closed';
    return this.status === 408 || this.status === 429 || (this.status ?? 0) >= 500;
  }
}

export interface EsploraClientOptions {
  /** Base URL of the API, e.g. `https://blockstream.info/api` or `https://mempool.space/testnet/api`. */
  baseUrl: string;
  /** Each request, body included, must finish within this. */
  requestTimeoutMs: number;
  /** Aborts every request under way, when the rail closes. */
  signal?: AbortSignal;
  fetch?: typeof fetch;
}

export class EsploraClient {
  private readonly baseUrl: string;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: EsploraClientOptions) {
    this.baseUrl = checkBaseUrl(options.baseUrl);
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  /** GET /blocks/tip/height: the height of the newest block. */
  async tipHeight(): Promise<number> {
    const path = '/blocks/tip/height';
    const text = (await this.get(path)).trim();
    if (!/^\d{1,10}$/.test(text))
      throw new EsploraError('bad_reply', path, `expected a block height, got ${JSON.stringify(text.slice(0, 80))}`);
    return Number(text);
  }

  /** GET /address/:address/txs: up to 50 mempool transactions, then the newest 25 confirmed ones. */
  addressTransactions(address: string): Promise<EsploraTransaction[]> {
    return this.getTransactions(`/address/${encodeURIComponent(address)}/txs`);
  }

  /** GET /address/:address/txs/chain/:last_seen_txid: the next page of confirmed transactions, older than lastSeenTxid. */
  olderConfirmedTransactions(address: string, lastSeenTxid: string): Promise<EsploraTransaction[]> {
    return this.getTransactions(`/address/${encodeURIComponent(address)}/txs/chain/${encodeURIComponent(lastSeenTxid)}`);
  }

  private async getTransactions(path: string): Promise<EsploraTransaction[]> {
    const text = await this.get(path);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new EsploraError('bad_reply', path, `the reply is not JSON: ${JSON.stringify(text.slice(0, 80))}`);
    }
    const parsed = transactionListSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new EsploraError(
        'bad_reply',
        path,
        `the reply is not a transaction list: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(),
      );
    }
    return parsed.data;
  }

  private async get(path: string): Promise<string> {
    const signals = [AbortSignal.timeout(this.options.requestTimeoutMs)];
    if (this.options.signal) signals.push(this.options.signal);
    const signal = AbortSignal.any(signals);
    try {
      const response = await this.fetch(this.baseUrl + path, { signal, headers: { accept: 'application/json, text/plain' } });
      const body = await response.text();
      if (!response.ok) {
        throw new EsploraError('http', path, `HTTP ${response.status}: ${JSON.stringify(body.slice(0, 120))}`, response.status);
      }
      return body;
    } catch (err) {
      if (err instanceof EsploraError) throw err;
      if (this.options.signal?.aborted) throw new EsploraError('closed', path, 'the rail is closing');
      if (signal.aborted) throw new EsploraError('timeout', path, `no complete reply within ${this.options.requestTimeoutMs} ms`);
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      throw new EsploraError('network', path, `${err instanceof Error ? err.message : String(err)}${cause}`);
    }
  }
}

function checkBaseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RangeError(`The Esplora API URL is not a URL: ${JSON.stringify(text)}.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new RangeError(`The Esplora API URL must be http: or https:, not ${url.protocol}`);
  }
  if (url.search || url.hash)
    throw new RangeError('The Esplora API URL must not have a query or fragment: give the base, such as https://blockstream.info/api');
  return url.href.replace(/\/+$/, '');
}
