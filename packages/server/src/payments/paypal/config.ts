import { isPayPalCurrency, payPalCurrencies, type PayPalCurrency } from './money.ts';

/** What the PayPal rail needs from the operator; validated as a whole by `validatePayPalRailConfig`. */
export interface PayPalRailConfig {
  /** PayPal's REST API: https://api-m.paypal.com (live) or https://api-m.sandbox.paypal.com. Plain http only on loopback (tests). */
  baseUrl: string;
  /** The REST app's client ID and secret (PayPal Developer Dashboard → Apps & Credentials). */
  clientId: string;
  clientSecret: string;
  /** The ID PayPal gave our webhook subscription (same dashboard → the app → Webhooks). */
  webhookId: string;
  /** The marketplace currency: renters pay in it and are credited in it, so PayPal must support it. */
  currency: string;
  /** Our page PayPal sends the payer back to after approval, with `?token=ORDER_ID`; it calls `complete`. */
  returnUrl: string;
  /** Our page PayPal sends the payer back to when they cancel. */
  cancelUrl: string;
  /** Shown to the payer on PayPal's pages. */
  brandName?: string;
  /** Per request to PayPal; default 15,000. */
  timeoutMs?: number;
  /** Requests per minute one client IP may make to the unauthenticated PayPal routes; default 20. */
  callsPerSourcePerMinute?: number;
  /** Requests of those routes talking to PayPal at once, from everyone; default 8. */
  maxConcurrentCalls?: number;
}

/** A validated config: the currency is one the rail can convert. */
export interface ValidPayPalRailConfig extends PayPalRailConfig {
  currency: PayPalCurrency;
}

/** Every problem with a config, each a sentence the operator can act on. */
export class PayPalConfigError extends Error {
  override readonly name = 'PayPalConfigError';
  constructor(readonly problems: string[]) {
    super(`The PayPal rail is misconfigured:\n- ${problems.join('\n- ')}`);
  }
}

const loopbackHosts = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** Checks all of `config` and reports every problem at once (throws `PayPalConfigError`). */
export function validatePayPalRailConfig(config: PayPalRailConfig): ValidPayPalRailConfig {
  const problems: string[] = [];
  const required = (value: string | undefined, what: string) => {
    if (typeof value !== 'string' || value.trim() === '') problems.push(`The ${what} is missing.`);
  };
  required(config.clientId, 'PayPal client ID');
  required(config.clientSecret, 'PayPal client secret');
  required(config.webhookId, 'PayPal webhook ID (PayPal shows it next to the webhook URL in the developer dashboard)');

  const base = parseUrl(config.baseUrl);
  if (!base) {
    problems.push(
      `The PayPal base URL "${config.baseUrl ?? ''}" is not a URL; use https://api-m.paypal.com or https://api-m.sandbox.paypal.com.`,
    );
  } else if (base.protocol !== 'https:' && !(base.protocol === 'http:' && loopbackHosts.has(base.hostname))) {
    problems.push(`The PayPal base URL "${config.baseUrl}" must use https (plain http is allowed only on loopback, for tests).`);
  } else if (base.pathname !== '/' || base.search || base.hash || base.username || base.password) {
    problems.push(`The PayPal base URL "${config.baseUrl}" must be just a scheme and host, like https://api-m.paypal.com.`);
  }

  if (!isPayPalCurrency(config.currency ?? '')) {
    problems.push(
      `The currency "${config.currency ?? ''}" is not supported by the PayPal rail; use one of ${payPalCurrencies.join(', ')}.`,
    );
  }

  for (const [name, value] of [
    ['return URL', config.returnUrl],
    ['cancel URL', config.cancelUrl],
  ] as const) {
    const url = parseUrl(value);
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      problems.push(`The PayPal ${name} "${value ?? ''}" is not an http(s) URL of this marketplace.`);
    }
  }

  if (config.timeoutMs !== undefined && (!Number.isInteger(config.timeoutMs) || config.timeoutMs <= 0)) {
    problems.push(`The PayPal request timeout must be a whole number of milliseconds above zero (got ${config.timeoutMs}).`);
  }
  for (const [what, value] of [
    ['calls per client IP and minute', config.callsPerSourcePerMinute],
    ['concurrent calls', config.maxConcurrentCalls],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value <= 0)) {
      problems.push(`The PayPal limit of ${what} must be a whole number above zero (got ${value}).`);
    }
  }
  if (config.brandName !== undefined && (config.brandName.length === 0 || config.brandName.length > 127)) {
    problems.push('The PayPal brand name must be 1 to 127 characters long.');
  }

  if (problems.length > 0) throw new PayPalConfigError(problems);
  return config as ValidPayPalRailConfig;
}

function parseUrl(value: string | undefined): URL | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
