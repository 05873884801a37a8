import { z } from 'zod';
import { opt, type OptionValues } from '@p2pvps/protocol/options';
import { AccountKeyError, bitcoinNetworks, DepositAddresses as BitcoinAddresses, type BitcoinNetwork } from './bitcoin/address.ts';
import { parseBtcPrice } from './bitcoin/btc-price.ts';
import { isAddress, parseAccountXpub } from './ethereum/address.ts';
import { parseRate } from './ethereum/amount.ts';
import type { EthereumRailConfig } from './ethereum/rail-config.ts';
import type { RatePolicy } from './exchange-rates.ts';
import { secretFile } from '../secret-file-option.ts';
import { PayPalConfigError, validatePayPalRailConfig, type PayPalRailConfig } from './paypal/config.ts';

/**
 * The server options of the payment rails, and the checks that span them: a rail is off
 * unless named in --rails, and a rail that is on must have everything it needs, checked by
 * the rail's own validators so the server stops at start with every problem at once.
 * Operator credit (`admin credit`) needs no outside service and is always on.
 */
export const railNames = ['paypal', 'ethereum', 'bitcoin'] as const;
export type RailName = (typeof railNames)[number];

const decimalString = opt.string().regex(/^\d+(\.\d+)?$/, 'must be a plain decimal like 3000.00');

export const railOptions = {
  rails: {
    flag: 'rails',
    env: 'P2PVPS_RAILS',
    description:
      'Payment rails renters top up through besides operator credit (always on): a comma list of paypal, ethereum, bitcoin. All off by default.',
    schema: opt
      .string()
      .transform((s) => [
        ...new Set(
          s
            .split(',')
            .map((r) => r.trim().toLowerCase())
            .filter(Boolean),
        ),
      ])
      .refine(
        (list) => list.every((r) => (railNames as readonly string[]).includes(r)),
        'must be a comma list of paypal, ethereum, bitcoin',
      )
      .transform((list) => list as RailName[]),
    default: '',
  },
  paypalApiUrl: {
    flag: 'paypal-api-url',
    env: 'P2PVPS_PAYPAL_API_URL',
    description: "PayPal's REST API: https://api-m.paypal.com (live) or https://api-m.sandbox.paypal.com.",
    schema: opt.string(),
    default: 'https://api-m.paypal.com',
  },
  paypalClientId: {
    flag: 'paypal-client-id',
    env: 'P2PVPS_PAYPAL_CLIENT_ID',
    description: 'Client ID of your PayPal REST app (Developer Dashboard → Apps & Credentials).',
    schema: opt.string().optional(),
  },
  paypalClientSecretFile: {
    flag: 'paypal-client-secret-file',
    env: 'P2PVPS_PAYPAL_CLIENT_SECRET_FILE',
    description: 'A file (mode 0600) holding the secret of your PayPal REST app: what --paypal-client-secret is unless that is given.',
    schema: secretFile(),
  },
  paypalClientSecret: {
    flag: 'paypal-client-secret',
    env: 'P2PVPS_PAYPAL_CLIENT_SECRET',
    description:
      'Secret of your PayPal REST app; prefer --paypal-client-secret-file or the environment variable to the flag, which ps shows.',
    schema: opt.string().optional(),
    default: (v: Record<string, unknown>) => v.paypalClientSecretFile as string | undefined,
    secret: true,
  },
  paypalWebhookId: {
    flag: 'paypal-webhook-id',
    env: 'P2PVPS_PAYPAL_WEBHOOK_ID',
    description: 'ID PayPal gave the webhook pointing at PUBLIC_URL/api/v1/topup/paypal/webhook.',
    schema: opt.string().optional(),
  },
  paypalReturnUrl: {
    flag: 'paypal-return-url',
    env: 'P2PVPS_PAYPAL_RETURN_URL',
    description: 'Where PayPal sends the renter back after paying (it captures the payment and credits the balance).',
    schema: opt.string(),
    default: (v: Record<string, unknown>) =>
      v.publicUrl ? `${String(v.publicUrl).replace(/\/+$/, '')}/api/v1/topup/paypal/return` : undefined,
  },
  paypalCallsPerIpPerMinute: {
    flag: 'paypal-calls-per-ip-per-minute',
    env: 'P2PVPS_PAYPAL_CALLS_PER_IP_PER_MINUTE',
    description:
      'Requests a minute one client IP may make to the PayPal return page and webhook (each costs calls to PayPal); more get 429.',
    schema: opt.positiveInt(),
    default: '20',
  },
  paypalMaxConcurrentCalls: {
    flag: 'paypal-max-concurrent-calls',
    env: 'P2PVPS_PAYPAL_MAX_CONCURRENT_CALLS',
    description: 'Return-page and webhook requests checked with PayPal at once, from everyone; more get 429 (PayPal redelivers).',
    schema: opt.positiveInt(),
    default: '8',
  },
  rateMaxAgeMinutes: {
    flag: 'rate-max-age-minutes',
    env: 'P2PVPS_RATE_MAX_AGE_MINUTES',
    description:
      'How long an exchange rate of the chain rails is good for after it was set (p2pvps admin rate set); past that the rail neither quotes nor credits.',
    schema: opt.positiveInt(),
    default: '60',
  },
  rateBandPercent: {
    flag: 'rate-band-percent',
    env: 'P2PVPS_RATE_BAND_PERCENT',
    description: 'A new exchange rate further than this from the one it replaces is held until the operator sets it again.',
    schema: opt.positiveInt(),
    default: '10',
  },
  ethereumRpcUrl: {
    flag: 'ethereum-rpc-url',
    env: 'P2PVPS_ETHEREUM_RPC_URL',
    description: 'JSON-RPC endpoint (http/https) of an Ethereum node the rail follows the chain through.',
    schema: opt.string().optional(),
  },
  ethereumChainId: {
    flag: 'ethereum-chain-id',
    env: 'P2PVPS_ETHEREUM_CHAIN_ID',
    description: 'Chain the node must be on (1 is mainnet); the rail scans no other.',
    schema: opt.positiveInt(),
    default: '1',
  },
  ethereumXpub: {
    flag: 'ethereum-xpub',
    env: 'P2PVPS_ETHEREUM_XPUB',
    description: "Account-level extended PUBLIC key (m/44'/60'/0') renters' deposit addresses derive from; never a private key.",
    schema: opt.string().optional(),
  },
  ethereumConfirmations: {
    flag: 'ethereum-confirmations',
    env: 'P2PVPS_ETHEREUM_CONFIRMATIONS',
    description: 'Confirmations before an Ethereum deposit is credited (the block holding it is the first).',
    schema: opt.positiveInt(),
    default: '12',
  },
  ethereumEthRate: {
    flag: 'ethereum-eth-rate',
    env: 'P2PVPS_ETHEREUM_ETH_RATE',
    description:
      'The first rate of ETH in the marketplace currency, an exact decimal like 3000.00; recorded at first start, then fed with p2pvps admin rate set ETH.',
    schema: decimalString.optional(),
  },
  ethereumTokenAddress: {
    flag: 'ethereum-token-address',
    env: 'P2PVPS_ETHEREUM_TOKEN_ADDRESS',
    description: 'Contract of the one ERC-20 token also credited (e.g. USDC); none if unset.',
    schema: opt.string().optional(),
  },
  ethereumTokenSymbol: {
    flag: 'ethereum-token-symbol',
    env: 'P2PVPS_ETHEREUM_TOKEN_SYMBOL',
    description: 'The token’s symbol, shown to renters and on statements.',
    schema: opt.string().regex(/^[A-Za-z0-9.$-]{1,12}$/, 'must be a short symbol like USDC'),
    default: 'USDC',
  },
  ethereumTokenDecimals: {
    flag: 'ethereum-token-decimals',
    env: 'P2PVPS_ETHEREUM_TOKEN_DECIMALS',
    description: 'The token’s decimals (USDC: 6).',
    schema: z.coerce.number({ error: 'is required' }).int('must be a whole number').min(0).max(77),
    default: '6',
  },
  ethereumTokenRate: {
    flag: 'ethereum-token-rate',
    env: 'P2PVPS_ETHEREUM_TOKEN_RATE',
    description: 'The first rate of 1 whole token, like 1.00; recorded at first start, then fed with p2pvps admin rate set SYMBOL.',
    schema: decimalString.optional(),
  },
  ethereumStartBlock: {
    flag: 'ethereum-start-block',
    env: 'P2PVPS_ETHEREUM_START_BLOCK',
    description: 'First block to scan on the very first start (default: the confirmed head then); later starts resume.',
    schema: opt
      .string()
      .regex(/^\d{1,15}$/, 'must be a block number')
      .transform((s) => BigInt(s))
      .optional(),
  },
  ethereumPollIntervalMs: {
    flag: 'ethereum-poll-interval-ms',
    env: 'P2PVPS_ETHEREUM_POLL_INTERVAL_MS',
    description: 'How often the Ethereum rail looks for new blocks.',
    schema: opt.positiveInt(),
    default: '15000',
  },
  bitcoinEsploraUrl: {
    flag: 'bitcoin-esplora-url',
    env: 'P2PVPS_BITCOIN_ESPLORA_URL',
    description:
      'Esplora-compatible API of YOUR OWN Bitcoin node (electrs/esplora): it decides which deposits are credited, so there is no public default.',
    schema: opt.string().optional(),
  },
  bitcoinNetwork: {
    flag: 'bitcoin-network',
    env: 'P2PVPS_BITCOIN_NETWORK',
    description: 'mainnet, testnet, signet or regtest.',
    schema: opt.enum(bitcoinNetworks as readonly BitcoinNetwork[] as [BitcoinNetwork, ...BitcoinNetwork[]]),
    default: 'mainnet',
  },
  bitcoinXpub: {
    flag: 'bitcoin-xpub',
    env: 'P2PVPS_BITCOIN_XPUB',
    description: "BIP84 account extended PUBLIC key (zpub or xpub of m/84'/0'/0'; vpub/tpub on test networks); never a private key.",
    schema: opt.string().optional(),
  },
  bitcoinConfirmations: {
    flag: 'bitcoin-confirmations',
    env: 'P2PVPS_BITCOIN_CONFIRMATIONS',
    description: 'Confirmations before a Bitcoin deposit is credited (1 = in a block).',
    schema: opt.positiveInt(),
    default: '3',
  },
  bitcoinBtcRate: {
    flag: 'bitcoin-btc-rate',
    env: 'P2PVPS_BITCOIN_BTC_RATE',
    description:
      'The first rate of BTC in the marketplace currency, like 65000.00; recorded at first start, then fed with p2pvps admin rate set BTC.',
    schema: decimalString.optional(),
  },
  bitcoinWatchDays: {
    flag: 'bitcoin-watch-days',
    env: 'P2PVPS_BITCOIN_WATCH_DAYS',
    description:
      'Days a Bitcoin deposit address is polled after its renter last asked for it (p2pvps topup bitcoin); later payments are credited when they ask again.',
    schema: opt.positiveInt(),
    default: '7',
  },
  bitcoinPollIntervalMs: {
    flag: 'bitcoin-poll-interval-ms',
    env: 'P2PVPS_BITCOIN_POLL_INTERVAL_MS',
    description: 'How often the Bitcoin rail polls for deposits.',
    schema: opt.positiveInt(),
    default: '60000',
  },
};

export type RailOptionValues = OptionValues<typeof railOptions> & { currency: string; publicUrl: string };

/** What each enabled rail is started with; undefined for a rail that is off. */
export interface RailSettings {
  /** How the chain rails' fed exchange rates are checked. */
  rates: RatePolicy;
  paypal?: PayPalRailConfig;
  ethereum?: { config: EthereumRailConfig; xpub: string };
  bitcoin?: {
    esploraUrl: string;
    network: BitcoinNetwork;
    xpub: string;
    confirmations: number;
    btcRate: string;
    pollIntervalMs: number;
    watchDays: number;
  };
}

type Values = Partial<Record<string, unknown>>;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
const where = (name: keyof typeof railOptions) => `--${railOptions[name].flag} / ${railOptions[name].env}`;

/** PayPal's validator names the field in its sentence; this finds the option to name with it. */
const payPalProblemOption: [RegExp, keyof typeof railOptions | 'currency'][] = [
  [/client ID/, 'paypalClientId'],
  [/client secret/, 'paypalClientSecret'],
  [/webhook ID/, 'paypalWebhookId'],
  [/base URL/, 'paypalApiUrl'],
  [/return URL|cancel URL/, 'paypalReturnUrl'],
  [/currency/, 'currency'],
];

function payPalConfig(v: Values): PayPalRailConfig {
  const returnUrl = str(v.paypalReturnUrl) ?? '';
  return {
    baseUrl: str(v.paypalApiUrl) ?? '',
    clientId: str(v.paypalClientId) ?? '',
    clientSecret: str(v.paypalClientSecret) ?? '',
    webhookId: str(v.paypalWebhookId) ?? '',
    currency: str(v.currency) ?? '',
    returnUrl,
    // PayPal sends a cancelling payer back with the same ?token=ORDER_ID: the page says nothing was charged.
    cancelUrl: returnUrl,
    ...(typeof v.paypalCallsPerIpPerMinute === 'number' && { callsPerSourcePerMinute: v.paypalCallsPerIpPerMinute }),
    ...(typeof v.paypalMaxConcurrentCalls === 'number' && { maxConcurrentCalls: v.paypalMaxConcurrentCalls }),
  };
}

function payPalProblems(v: Values): string[] {
  try {
    validatePayPalRailConfig(payPalConfig(v));
    return [];
  } catch (err) {
    if (!(err instanceof PayPalConfigError)) throw err;
    return (
      err.problems
        // The cancel URL is the return URL; a return URL that is missing because another option failed repeats that problem.
        .filter((p) => !/cancel URL/.test(p) && !(v.paypalReturnUrl === undefined && /return URL/.test(p)))
        .map((p) => {
          const option = payPalProblemOption.find(([pattern]) => pattern.test(p))?.[1];
          const named = option === 'currency' ? '--currency / P2PVPS_CURRENCY' : option ? where(option) : '--rails paypal';
          return `${named}: ${p}`;
        })
    );
  }
}

function ethereumProblems(v: Values): string[] {
  const problems: string[] = [];
  const rpcUrl = str(v.ethereumRpcUrl);
  if (!rpcUrl) problems.push(`${where('ethereumRpcUrl')}: the Ethereum rail needs the JSON-RPC URL of an Ethereum node.`);
  else if (!/^https?:\/\/[^\s/]+/.test(rpcUrl)) problems.push(`${where('ethereumRpcUrl')}: must be an http:// or https:// URL.`);
  const xpub = str(v.ethereumXpub);
  if (!xpub) problems.push(`${where('ethereumXpub')}: the Ethereum rail needs the account xpub deposit addresses derive from.`);
  else {
    try {
      parseAccountXpub(xpub);
    } catch (err) {
      problems.push(`${where('ethereumXpub')}: ${(err as Error).message}`);
    }
  }
  const rate = (name: 'ethereumEthRate' | 'ethereumTokenRate', what: string) => {
    const text = str(v[name]);
    if (!text) return problems.push(`${where(name)}: the Ethereum rail needs the rate of ${what} in the marketplace currency.`);
    try {
      parseRate(text);
    } catch (err) {
      problems.push(`${where(name)}: ${(err as Error).message}`);
    }
  };
  rate('ethereumEthRate', 'ETH');
  const token = str(v.ethereumTokenAddress);
  if (token) {
    if (!isAddress(token)) problems.push(`${where('ethereumTokenAddress')}: "${token}" is not an Ethereum address (0x and 40 hex digits).`);
    rate('ethereumTokenRate', `the token (${str(v.ethereumTokenSymbol) ?? 'USDC'})`);
    // Rates are set by symbol (p2pvps admin rate SYMBOL RATE): the token's must not be ETH's or BTC's.
    if (/^(ETH|BTC)$/i.test(str(v.ethereumTokenSymbol) ?? '')) {
      problems.push(`${where('ethereumTokenSymbol')}: must not be ETH or BTC, whose rates are set by those names.`);
    }
  }
  return problems;
}

function bitcoinProblems(v: Values): string[] {
  const problems: string[] = [];
  const url = str(v.bitcoinEsploraUrl);
  if (!url) {
    problems.push(
      `${where('bitcoinEsploraUrl')}: the Bitcoin rail needs the Esplora API of your own node (electrs); a public one would decide alone which deposits you credit.`,
    );
  } else if (!/^https?:\/\/[^\s/]+/.test(url)) problems.push(`${where('bitcoinEsploraUrl')}: must be an http:// or https:// URL.`);
  const xpub = str(v.bitcoinXpub);
  if (!xpub) problems.push(`${where('bitcoinXpub')}: the Bitcoin rail needs the BIP84 account key deposit addresses derive from.`);
  else if (typeof v.bitcoinNetwork === 'string') {
    try {
      new BitcoinAddresses(xpub, v.bitcoinNetwork as BitcoinNetwork);
    } catch (err) {
      if (!(err instanceof AccountKeyError)) throw err;
      problems.push(`${where('bitcoinXpub')}: ${err.message}`);
    }
  }
  const rate = str(v.bitcoinBtcRate);
  if (!rate) problems.push(`${where('bitcoinBtcRate')}: the Bitcoin rail needs the rate of BTC in the marketplace currency.`);
  else {
    try {
      parseBtcPrice(rate);
    } catch (err) {
      problems.push(`${where('bitcoinBtcRate')}: ${(err as Error).message}`);
    }
  }
  return problems;
}

/** Options that only mean something to one rail, and have no default: set while the rail is off, they are a mistake. */
const optionsOf: Record<RailName, (keyof typeof railOptions)[]> = {
  paypal: ['paypalClientId', 'paypalClientSecret', 'paypalWebhookId'],
  ethereum: ['ethereumRpcUrl', 'ethereumXpub', 'ethereumEthRate', 'ethereumTokenAddress', 'ethereumTokenRate', 'ethereumStartBlock'],
  bitcoin: ['bitcoinXpub', 'bitcoinBtcRate', 'bitcoinEsploraUrl'],
};

/** Every problem with the rails' options, as option problems are reported (see parseOptions). */
export function railProblems(v: Values): string[] {
  if (!Array.isArray(v.rails)) return [];
  const enabled = new Set(v.rails as RailName[]);
  const problems: string[] = [];
  if (enabled.has('paypal')) problems.push(...payPalProblems(v));
  if (enabled.has('ethereum')) problems.push(...ethereumProblems(v));
  if (enabled.has('bitcoin')) problems.push(...bitcoinProblems(v));
  for (const rail of railNames) {
    if (enabled.has(rail)) continue;
    for (const name of optionsOf[rail]) {
      if (v[name] !== undefined)
        problems.push(`${where(name)}: is set, but the ${rail} rail is off; add ${rail} to --rails to take payments through it.`);
    }
  }
  return problems;
}

/** The settings of the enabled rails, from a config that passed `railProblems`. */
export function railSettings(c: RailOptionValues): RailSettings {
  const enabled = new Set(c.rails);
  const settings: RailSettings = {
    rates: { maxAgeMs: c.rateMaxAgeMinutes * 60_000, bandBps: c.rateBandPercent * 100 },
  };
  if (enabled.has('paypal')) settings.paypal = payPalConfig(c);
  if (enabled.has('ethereum')) {
    settings.ethereum = {
      xpub: c.ethereumXpub!.trim(),
      config: {
        rpcUrl: c.ethereumRpcUrl!.trim(),
        chainId: BigInt(c.ethereumChainId),
        confirmations: c.ethereumConfirmations,
        ethRate: c.ethereumEthRate!,
        ...(str(c.ethereumTokenAddress) !== undefined && {
          token: {
            address: c.ethereumTokenAddress!.trim(),
            symbol: c.ethereumTokenSymbol,
            decimals: c.ethereumTokenDecimals,
            rate: c.ethereumTokenRate!,
          },
        }),
        ...(c.ethereumStartBlock !== undefined && { startBlock: c.ethereumStartBlock }),
        pollIntervalMs: c.ethereumPollIntervalMs,
        maxBackoffMs: Math.max(c.ethereumPollIntervalMs, Math.min(300_000, c.ethereumPollIntervalMs * 20)),
      },
    };
  }
  if (enabled.has('bitcoin')) {
    settings.bitcoin = {
      esploraUrl: c.bitcoinEsploraUrl!.trim(),
      network: c.bitcoinNetwork,
      xpub: c.bitcoinXpub!.trim(),
      confirmations: c.bitcoinConfirmations,
      btcRate: c.bitcoinBtcRate!,
      pollIntervalMs: c.bitcoinPollIntervalMs,
      watchDays: c.bitcoinWatchDays,
    };
  }
  return settings;
}
