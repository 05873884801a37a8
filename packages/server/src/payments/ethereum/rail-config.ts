import { isAddress } from './address.ts';
import { parseRate, type ExactRate } from './amount.ts';

/** The Ethereum rail's settings (watcher.ts), checked as a whole by `checkConfig`. */
export interface EthereumRailConfig {
  /** The node's JSON-RPC endpoint (http/https). */
  rpcUrl: string;
  /** The chain the node must be on (1 = mainnet); the rail refuses to scan any other. */
  chainId: bigint;
  /** Confirmations before a deposit is credited; ≥ 1. */
  confirmations: number;
  /** Marketplace currency per 1 ETH, an exact decimal string like "3000.00". */
  ethRate: string;
  /** The one ERC-20 credited, if any. */
  token?: {
    address: string;
    /** Shown on statements, e.g. "USDC". */
    symbol: string;
    decimals: number;
    /** Marketplace currency per 1 whole token, e.g. "1.00". */
    rate: string;
  };
  /** First block to scan when no cursor is saved; default: the confirmed head at first start. */
  startBlock?: bigint;
  /** Between polls when caught up; default 15 s. */
  pollIntervalMs?: number;
  /** Cap of the exponential backoff after failures; default 5 min. */
  maxBackoffMs?: number;
  /** Per JSON-RPC request; default 10 s. */
  rpcTimeoutMs?: number;
  /** Blocks per scan batch (one eth_getLogs range); default 50. */
  maxBlocksPerBatch?: number;
}

export interface Settings {
  ethRate: ExactRate;
  token: { address: string; symbol: string; decimals: number; rate: ExactRate } | undefined;
  pollIntervalMs: number;
  maxBackoffMs: number;
  maxBlocksPerBatch: bigint;
}

export /** Validates the whole config and reports every problem at once. */
function checkConfig(config: EthereumRailConfig): Settings {
  const problems: string[] = [];
  const attempt = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch (err) {
      problems.push((err as Error).message);
      return undefined;
    }
  };
  if (!/^https?:\/\//.test(config.rpcUrl)) problems.push('rpcUrl must be an http:// or https:// URL.');
  if (config.chainId <= 0n) problems.push('chainId must be positive.');
  if (!Number.isInteger(config.confirmations) || config.confirmations < 1) {
    problems.push('confirmations must be an integer ≥ 1.');
  }
  const ethRate = attempt(() => parseRate(config.ethRate));
  let token: Settings['token'];
  if (config.token) {
    const t = config.token;
    if (!isAddress(t.address)) problems.push(`token.address is not an Ethereum address: ${t.address}`);
    if (!Number.isInteger(t.decimals) || t.decimals < 0 || t.decimals > 77) {
      problems.push('token.decimals must be an integer in [0, 77].');
    }
    if (!t.symbol) problems.push('token.symbol must not be empty.');
    const rate = attempt(() => parseRate(t.rate));
    if (rate) token = { address: t.address.toLowerCase(), symbol: t.symbol, decimals: t.decimals, rate };
  }
  if (config.startBlock !== undefined && config.startBlock < 0n) problems.push('startBlock must be ≥ 0.');
  const positive = (name: string, value: number | undefined) => {
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) problems.push(`${name} must be a positive integer.`);
  };
  positive('pollIntervalMs', config.pollIntervalMs);
  positive('maxBackoffMs', config.maxBackoffMs);
  positive('rpcTimeoutMs', config.rpcTimeoutMs);
  positive('maxBlocksPerBatch', config.maxBlocksPerBatch);
  if (problems.length > 0 || !ethRate) {
    throw new Error(`Invalid Ethereum rail config:\n- ${problems.join('\n- ')}`);
  }
  return {
    ethRate,
    token,
    pollIntervalMs: config.pollIntervalMs ?? 15_000,
    maxBackoffMs: config.maxBackoffMs ?? 300_000,
    maxBlocksPerBatch: BigInt(config.maxBlocksPerBatch ?? 50),
  };
}
