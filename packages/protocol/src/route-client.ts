import { ApiErrorBody } from './errors.ts';
import { buildPath, type RouteContract } from './route-contract.ts';
import type { RouteInput, RouteOutput } from './routes.ts';

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

export interface RouteClientOptions {
  baseUrl: string;
  /** API token for user routes. */
  token?: string;
  /** Signs device routes; returns the Authorization header value. */
  signDevice?: (method: string, pathWithQuery: string, body: string) => string;
  /** How `call` sends (default: global fetch). */
  fetch?: HttpSend;
  timeoutMs?: number;
  /** A browser session's CSRF token, sent on every change (the session itself is a cookie the browser sends). */
  csrfToken?: string;
}

type Table = Record<string, RouteContract>;
type CallArgs<R extends RouteContract> = {} extends RouteInput<R> ? [input?: RouteInput<R>] : [input: RouteInput<R>];

/**
 * Calls the routes of one table: ApiClient (client.ts) over the whole API, the agent over
 * its own few routes (agent-routes.ts), so a device builds no schema it never uses.
 */
export class RouteClient<T extends Table> {
  readonly baseUrl: string;
  constructor(
    private readonly table: T,
    protected readonly options: RouteClientOptions,
  ) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
  }

  async call<N extends keyof T & string>(name: N, ...args: CallArgs<T[N]>): Promise<RouteOutput<T[N]>> {
    const contract = this.table[name]!;
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
      throw new ApiError(0, 'server_unreachable', `Cannot reach the server at ${this.baseUrl} (${reasonOf(err)}).`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new ApiError(res.status, 'bad_response', `The server at ${this.baseUrl} sent a reply that is not JSON (HTTP ${res.status}).`);
    }
    if (!res.ok) throw errorOf(res.status, json);
    return contract.response.parse(json) as RouteOutput<T[N]>;
  }
}

/** Why a request never got an answer, in words. */
export function reasonOf(err: unknown): string {
  return err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
}

/** The server's error envelope as an ApiError, or `bad_response` when there is none. */
export function errorOf(status: number, json: unknown): ApiError {
  const parsed = ApiErrorBody.safeParse(json);
  if (parsed.success) return new ApiError(status, parsed.data.code, parsed.data.message, parsed.data.fields, parsed.data.detail);
  return new ApiError(status, 'bad_response', `The server answered HTTP ${status} without an error envelope.`);
}
