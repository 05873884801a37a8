import { ApiErrorBody } from './errors.ts';
import { buildPath, routes, type RouteInput, type RouteName, type RouteOutput, type Routes } from './routes.ts';

/** An API error as the client sees it: the server's envelope plus the HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields?: Record<string, string>,
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** What the client reads of an HTTP reply; fetch's Response is one. */
export interface HttpReply {
  status: number;
  ok: boolean;
  text(): Promise<string>;
}

/** Sends one request; global fetch is one, the agent's node:http sender (without undici's memory) another. */
export type HttpSend = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal },
) => Promise<HttpReply>;

export interface ApiClientOptions {
  baseUrl: string;
  /** API token for user routes. */
  token?: string;
  /** Signs device routes; returns the Authorization header value. */
  signDevice?: (method: string, pathWithQuery: string, body: string) => string;
  /** How `call` sends (default: global fetch); `download` always streams through fetch. */
  fetch?: HttpSend;
  timeoutMs?: number;
  /** A browser session's CSRF token, sent on every change (the session itself is a cookie the browser sends). */
  csrfToken?: string;
}

/**
 * The one typed client for the HTTP API, used by the CLI, the agent and tests.
 * `client.call('rent', { body: { deviceId } })` is checked against the route table.
 */
export class ApiClient {
  readonly baseUrl: string;
  constructor(private readonly options: ApiClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
  }

  withToken(token: string): ApiClient {
    return new ApiClient({ ...this.options, token });
  }

  withCsrfToken(csrfToken: string): ApiClient {
    return new ApiClient({ ...this.options, csrfToken });
  }

  async call<N extends RouteName>(name: N, ...args: CallArgs<Routes[N]>): Promise<RouteOutput<Routes[N]>> {
    const contract = routes[name];
    const input = (args[0] ?? {}) as { params?: Record<string, string>; query?: Record<string, unknown>; body?: unknown };
    let path = buildPath(contract.path, input.params);
    if (input.query) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(input.query)) if (v !== undefined && v !== null) qs.set(k, String(v));
      const s = qs.toString();
      if (s) path += `?${s}`;
    }
    const body = 'body' in contract && contract.body ? JSON.stringify(input.body ?? {}) : undefined;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (contract.auth === 'device') {
      if (!this.options.signDevice) throw new Error(`route ${name} needs a device signer`);
      headers.authorization = this.options.signDevice(contract.method, path, body ?? '');
    } else if (this.options.token) {
      headers.authorization = `Bearer ${this.options.token}`;
    }
    if (this.options.csrfToken && contract.method !== 'GET') headers['x-csrf-token'] = this.options.csrfToken;
    const doFetch = this.options.fetch ?? fetch;
    let res: HttpReply;
    try {
      res = await doFetch(this.baseUrl + path, {
        method: contract.method,
        headers,
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (err) {
      const reason = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      throw new ApiError(0, 'server_unreachable', `Cannot reach the server at ${this.baseUrl} (${reason}).`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new ApiError(res.status, 'bad_response', `The server at ${this.baseUrl} sent a reply that is not JSON (HTTP ${res.status}).`);
    }
    if (!res.ok) {
      const parsed = ApiErrorBody.safeParse(json);
      if (parsed.success) throw new ApiError(res.status, parsed.data.code, parsed.data.message, parsed.data.fields, parsed.data.detail);
      throw new ApiError(res.status, 'bad_response', `The server answered HTTP ${res.status} without an error envelope.`);
    }
    return contract.response.parse(json) as RouteOutput<Routes[N]>;
  }

  /**
   * A GET of a route outside the JSON table (a CSV download), with this client's token:
   * the body as it arrives, so a long download is never held whole. Errors are the
   * envelope, as for `call`.
   */
  async download(path: string): Promise<AsyncIterable<Uint8Array>> {
    const headers: Record<string, string> = this.options.token ? { authorization: `Bearer ${this.options.token}` } : {};
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, {
        headers,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 300_000),
      });
    } catch (err) {
      const reason = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      throw new ApiError(0, 'server_unreachable', `Cannot reach the server at ${this.baseUrl} (${reason}).`);
    }
    if (!res.ok || !res.body) {
      const parsed = ApiErrorBody.safeParse(await res.json().catch(() => null));
      if (parsed.success) throw new ApiError(res.status, parsed.data.code, parsed.data.message, parsed.data.fields, parsed.data.detail);
      throw new ApiError(res.status, 'bad_response', `The server answered HTTP ${res.status} without an error envelope.`);
    }
    return res.body as unknown as AsyncIterable<Uint8Array>;
  }
}

type CallArgs<R extends Routes[RouteName]> = {} extends RouteInput<R> ? [input?: RouteInput<R>] : [input: RouteInput<R>];
