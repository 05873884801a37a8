import { routes, type Routes } from './routes.ts';
import { ApiError, errorOf, reasonOf, RouteClient, type RouteClientOptions } from './route-client.ts';

export { ApiError };
export type { HttpReply, HttpSend } from './route-client.ts';
export type ApiClientOptions = RouteClientOptions;

/**
 * The one typed client for the HTTP API, used by the CLI, the agent and tests.
 * `client.call('rent', { body: { deviceId } })` is checked against the route table.
 */
export class ApiClient extends RouteClient<Routes> {
  constructor(options: ApiClientOptions) {
    super(routes, options);
  }

  withToken(token: string): ApiClient {
    return new ApiClient({ ...this.options, token });
  }

  withCsrfToken(csrfToken: string): ApiClient {
    return new ApiClient({ ...this.options, csrfToken });
  }

  /**
   * A GET of a route outside the JSON table (a CSV download), with this client's token:
   * the body as it arrives, so a long download is never held whole. Errors are the
   * envelope, as for `call`. Always through global fetch.
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
      throw new ApiError(0, 'server_unreachable', `Cannot reach the server at ${this.baseUrl} (${reasonOf(err)}).`);
    }
    if (!res.ok || !res.body) throw errorOf(res.status, await res.json().catch(() => null));
    return res.body as unknown as AsyncIterable<Uint8Array>;
  }
}
