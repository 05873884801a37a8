/**
 * A LOCAL STAND-IN for the Esplora HTTP API, for tests only. It is NOT Bitcoin: no node,
 * no blocks, no signatures, no network. No Bitcoin node can be installed where these tests
 * run, so this small node:http server on 127.0.0.1 answers the endpoints the rail calls, in
 * the JSON shapes of Esplora's API.md, from an in-memory list of transactions that a test
 * creates (`pay`), confirms (`mine`) and breaks (`failNextRequests`).
 *
 * Served: GET /blocks/tip/height, /address/:address/txs, /address/:address/txs/chain[/:last_seen_txid],
 * /address/:address/txs/mempool. Paging follows Esplora: /txs gives up to 50 mempool
 * transactions then the newest 25 confirmed; each /txs/chain page gives 25 older ones.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { bech32, bech32m, hex } from '@scure/base';

export interface StandInOutput {
  address: string;
  sats: number;
}

/** How the next requests fail: an HTTP status, no answer at all, a dropped connection, or a 200 that is not JSON. */
export type StandInFailure = { status: number } | 'timeout' | 'reset' | 'garbage';

export interface EsploraStandInOptions {
  /** Height of the tip when the stand-in starts. Default 800,000. */
  tipHeight?: number;
  /** Confirmed transactions per page. Default 25, as Esplora. */
  pageSize?: number;
  /** Repeat the last_seen transaction at the top of each /txs/chain page, so a transaction is seen in two pages. */
  overlappingPages?: boolean;
}

interface StandInTransaction {
  txid: string;
  outputs: StandInOutput[];
  block: { height: number; hash: string; time: number } | null;
  /** Insertion order; within a block, later means newer. */
  seq: number;
}

const mempoolLimit = 50;
const firstBlockTime = Date.parse('2026-01-01T00:00:00Z') / 1000;

export class EsploraStandIn {
  /** Paths of the requests received, in order (failed ones included). */
  readonly requests: string[] = [];
  private readonly server: http.Server;
  private readonly transactions: StandInTransaction[] = [];
  private readonly failures: { how: StandInFailure; pathIncludes: string | undefined }[] = [];
  private readonly heldResponses = new Set<http.ServerResponse>();
  private readonly pageSize: number;
  private readonly overlappingPages: boolean;
  private tip: number;
  private readonly startTip: number;

  private constructor(options: EsploraStandInOptions) {
    this.tip = this.startTip = options.tipHeight ?? 800_000;
    this.pageSize = options.pageSize ?? 25;
    this.overlappingPages = options.overlappingPages ?? false;
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  static async start(options: EsploraStandInOptions = {}): Promise<EsploraStandIn> {
    const standIn = new EsploraStandIn(options);
    await new Promise<void>((resolve, reject) => {
      standIn.server.once('error', reject);
      standIn.server.listen(0, '127.0.0.1', () => resolve());
    });
    return standIn;
  }

  /** Base URL to give the rail, like `https://blockstream.info/api`. */
  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  get tipHeight(): number {
    return this.tip;
  }

  /** Adds an unconfirmed transaction with these outputs (plus nothing else) and returns its txid. */
  addTransaction(outputs: StandInOutput[]): string {
    for (const { address, sats } of outputs) {
      decodeSegwitAddress(address); // throws on an address Esplora would reject
      if (!Number.isSafeInteger(sats) || sats < 0) throw new RangeError(`sats must be a non-negative integer, not ${sats}`);
    }
    const txid = randomBytes(32).toString('hex');
    this.transactions.push({ txid, outputs, block: null, seq: this.transactions.length });
    return txid;
  }

  /** A transaction with one output paying `sats` to `address`. */
  pay(address: string, sats: number): string {
    return this.addTransaction([{ address, sats }]);
  }

  /** Mines `count` blocks; the first takes every mempool transaction. Returns the new tip height. */
  mine(count = 1): number {
    for (let i = 0; i < count; i++) {
      this.tip++;
      const block = { height: this.tip, hash: randomBytes(32).toString('hex'), time: firstBlockTime + (this.tip - this.startTip) * 600 };
      for (const tx of this.transactions) tx.block ??= block;
    }
    return this.tip;
  }

  /**
   * The next `count` requests fail this way (default: HTTP 503); later ones are served again.
   * With `pathIncludes`, only requests whose path contains it count (and fail).
   */
  failNextRequests(count: number, how: StandInFailure = { status: 503 }, pathIncludes?: string): void {
    for (let i = 0; i < count; i++) this.failures.push({ how, pathIncludes });
  }

  async close(): Promise<void> {
    for (const res of this.heldResponses) res.destroy();
    this.heldResponses.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://stand-in').pathname;
    this.requests.push(path);
    const at = this.failures.findIndex((f) => f.pathIncludes === undefined || path.includes(f.pathIncludes));
    const failure = at < 0 ? undefined : this.failures.splice(at, 1)[0]!.how;
    if (failure === 'timeout') {
      this.heldResponses.add(res);
      res.on('close', () => this.heldResponses.delete(res));
      return;
    }
    if (failure === 'reset') {
      req.socket.destroy();
      return;
    }
    if (failure === 'garbage') return send(res, 200, 'text/html', '<html>502 Bad Gateway</html>');
    if (failure) return send(res, failure.status, 'text/plain', 'stand-in failure');
    if (req.method !== 'GET') return send(res, 405, 'text/plain', 'Method Not Allowed');

    if (path === '/blocks/tip/height') return send(res, 200, 'text/plain', String(this.tip));
    const match = /^\/address\/([^/]+)\/txs(?:\/(chain|mempool))?(?:\/([^/]+))?$/.exec(path);
    if (!match || (match[3] !== undefined && match[2] !== 'chain')) return send(res, 404, 'text/plain', 'Not Found');
    const address = decodeURIComponent(match[1]!);
    try {
      decodeSegwitAddress(address);
    } catch {
      return send(res, 400, 'text/plain', 'Invalid Bitcoin address');
    }

    const history = this.transactions.filter((tx) => tx.outputs.some((o) => o.address === address));
    const mempool = history.filter((tx) => !tx.block).sort((a, b) => b.seq - a.seq);
    const confirmed = history.filter((tx) => tx.block).sort((a, b) => b.block!.height - a.block!.height || b.seq - a.seq);
    let list: StandInTransaction[];
    if (match[2] === undefined) {
      list = [...mempool.slice(0, mempoolLimit), ...confirmed.slice(0, this.pageSize)];
    } else if (match[2] === 'mempool') {
      list = mempool.slice(0, mempoolLimit);
    } else if (match[3] === undefined) {
      list = confirmed.slice(0, this.pageSize);
    } else {
      const at = confirmed.findIndex((tx) => tx.txid === match[3]);
      if (at < 0) return send(res, 422, 'text/plain', 'Transaction not found in history');
      const from = this.overlappingPages ? at : at + 1;
      list = confirmed.slice(from, from + this.pageSize);
    }
    send(res, 200, 'application/json', JSON.stringify(list.map((tx) => this.format(tx))));
  }

  /** Esplora's transaction format, with plausible values where the stand-in has no real ones. */
  private format(tx: StandInTransaction): object {
    const outputs = tx.outputs.map(({ address, sats }) => {
      const { version, program } = decodeSegwitAddress(address);
      const scriptpubkey = hex.encode(Uint8Array.from([version === 0 ? 0 : 0x50 + version, program.length, ...program]));
      const type = version === 1 ? 'v1_p2tr' : program.length === 20 ? 'v0_p2wpkh' : 'v0_p2wsh';
      return { scriptpubkey, scriptpubkey_asm: '', scriptpubkey_type: type, scriptpubkey_address: address, value: sats };
    });
    const status = tx.block
      ? { confirmed: true, block_height: tx.block.height, block_hash: tx.block.hash, block_time: tx.block.time }
      : { confirmed: false };
    return {
      txid: tx.txid,
      version: 2,
      locktime: 0,
      vin: [
        {
          txid: '00'.repeat(32),
          vout: 0,
          prevout: null,
          scriptsig: '',
          scriptsig_asm: '',
          witness: [],
          is_coinbase: false,
          sequence: 4294967293,
        },
      ],
      vout: outputs,
      size: 222,
      weight: 561,
      fee: 1410,
      status,
    };
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function decodeSegwitAddress(address: string): { version: number; program: Uint8Array } {
  let words: number[];
  try {
    words = bech32.decode(address as `${string}1${string}`).words;
  } catch {
    words = bech32m.decode(address as `${string}1${string}`).words;
  }
  const [version, ...rest] = words;
  return { version: version!, program: bech32.fromWords(rest) };
}
